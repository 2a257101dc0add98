package specs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode"
)

// InitOptions says what `trialbook init` knows; the rest is guessed from the
// data.
type InitOptions struct {
	Data    string // the dataset, CSV or Parquet; relative to the current directory
	Target  string // the column to predict
	Task    string // regression, binary, multiclass or classification; "" guesses
	Metric  string // "" takes the task's usual metric
	Name    string // "" names the problem after its folder
	Context string // free text for agents; "" writes a placeholder to fill in
}

// Init writes DIR/problem.jsonnet, a commented starter problem for the data,
// and returns its path and what it guessed (task, metric, id columns), each
// with the reason. It reads the data once to guess. It refuses to overwrite
// a problem file, validates the result as Load would before writing, and
// writes nothing at all when anything is wrong. The bridge's "create
// experiment" calls the same function.
func Init(dir string, opts InitOptions) (path string, guessed []string, err error) {
	ctx := context.Background()
	file := filepath.Join(dir, ProblemFile)
	if _, err := os.Stat(file); err == nil {
		return "", nil, fmt.Errorf("%s already exists; edit it, or init another folder", file)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", nil, err
	}
	if st, err := os.Stat(dir); err == nil && !st.IsDir() {
		return "", nil, fmt.Errorf("%s is a file; init needs a folder for %s", dir, ProblemFile)
	}
	var is issues
	if opts.Data == "" {
		is.add("data", "missing; give the dataset (CSV or Parquet) with --data FILE")
	}
	if opts.Target == "" {
		is.add("target", "missing; give the column to predict with --target COLUMN")
	}
	tasks := []string{string(Regression), string(Binary), string(Multiclass), string(autoClassification)}
	if opts.Task != "" && !contains(tasks, opts.Task) {
		is.add("task", "%q is not a task;%s allowed: %s", opts.Task, didYouMean(opts.Task, tasks), quoteList(tasks))
	}
	if opts.Metric != "" {
		if _, ok := findMetric(opts.Metric); !ok {
			is.add("metric", "%q is not a metric;%s allowed: %s", opts.Metric, didYouMean(opts.Metric, MetricNames("")), quoteList(MetricNames("")))
		}
	}
	if len(is) > 0 {
		return "", nil, &Error{File: file, Issues: is}
	}

	data, err := filepath.Abs(opts.Data)
	if err != nil {
		return "", nil, err
	}
	if _, err := os.Stat(data); err != nil {
		return "", nil, &Error{File: file, Issues: []Issue{{"data", fmt.Sprintf("%q: %v", opts.Data, errors.Unwrap(err))}}}
	}
	cols, err := readColumns(data)
	if err != nil {
		return "", nil, &Error{File: file, Issues: []Issue{{"data", err.Error()}}}
	}
	if !contains(cols, opts.Target) {
		c := checker{}
		c.column(cols, filepath.Base(data), "target", opts.Target)
		return "", nil, &Error{File: file, Issues: c.issues}
	}
	prof, err := ProfileFile(ctx, data, ProfileOptions{Target: opts.Target, Task: Task(opts.Task)})
	if err != nil {
		return "", nil, err
	}

	s := starter{opts: opts, cols: cols}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return "", nil, err
	}
	s.data = dataRef(absDir, data)
	guessed = s.guess(prof)
	text := s.text()
	if _, err := load(ctx, file, text, LoadOptions{}); err != nil {
		return "", nil, err
	}
	if err := writeNew(dir, file, text); err != nil {
		return "", nil, err
	}
	return file, guessed, nil
}

// dataRef writes the data path for a problem file in dir: relative, so the
// folder can move with its data, unless the two share nothing but the root.
func dataRef(dir, data string) string {
	rel, err := filepath.Rel(dir, data)
	if err != nil {
		return filepath.ToSlash(data)
	}
	up := 0
	for _, part := range strings.Split(filepath.ToSlash(rel), "/") {
		if part == ".." {
			up++
		}
	}
	if up > 0 && up >= len(strings.Split(filepath.ToSlash(strings.Trim(dir, string(filepath.Separator))), "/")) {
		return filepath.ToSlash(data)
	}
	return filepath.ToSlash(rel)
}

// starter holds what goes into a starter problem file.
type starter struct {
	opts   InitOptions
	cols   []string
	data   string // relative to the problem file's folder
	task   Task
	metric string
	ids    []string
	why    map[string]string // field → the reason it was guessed
}

func (s *starter) guess(prof *Profile) []string {
	s.why = map[string]string{}
	var guessed []string
	t := prof.Target
	s.task = Task(s.opts.Task)
	if s.task == "" {
		s.task = t.Task
		tcol := prof.column(t.Name)
		switch s.task {
		case Regression:
			s.why["task"] = fmt.Sprintf("%s is numeric with %s distinct values", t.Name, distinctWords(tcol))
		default:
			var names []string
			for _, c := range t.Classes {
				names = append(names, c.Value)
			}
			s.why["task"] = fmt.Sprintf("%s has %d classes: %s", t.Name, len(names), classList(names))
		}
		guessed = append(guessed, fmt.Sprintf("task: %s (%s)", s.task, s.why["task"]))
	}
	s.metric = s.opts.Metric
	if s.metric == "" {
		mt := s.task
		if mt == autoClassification {
			mt = Multiclass // logloss fits both
		}
		s.metric = defaultMetric(mt)
		others := strings.Join(without(taskMetrics(s.task), s.metric), ", ")
		s.why["metric"] = fmt.Sprintf("the usual metric for %s; others: %s", s.task, others)
		guessed = append(guessed, fmt.Sprintf("metric: %s (%s)", s.metric, s.why["metric"]))
	}
	for _, c := range prof.Columns {
		if c.Name != t.Name && looksLikeID(c.Name) && c.Missing == 0 && (c.DistinctMore || int64(c.Distinct) == prof.Rows) {
			s.ids = append(s.ids, c.Name)
		}
	}
	if len(s.ids) > 0 {
		s.why["ids"] = "named like an id, one value per row"
		guessed = append(guessed, fmt.Sprintf("features.ids: %s (%s)", strings.Join(s.ids, ", "), s.why["ids"]))
	}
	return guessed
}

func (p *Profile) column(name string) ColumnProfile {
	for _, c := range p.Columns {
		if c.Name == name {
			return c
		}
	}
	return ColumnProfile{}
}

func distinctWords(c ColumnProfile) string {
	if c.DistinctMore {
		return fmt.Sprintf("more than %d", c.Distinct)
	}
	return fmt.Sprint(c.Distinct)
}

// looksLikeID says whether a column's name marks it as a row identifier:
// id, ID, Id, customer_id, PassengerId.
func looksLikeID(name string) bool {
	l := strings.ToLower(name)
	if l == "id" || strings.HasSuffix(l, "_id") || strings.HasSuffix(l, "-id") {
		return true
	}
	if n := len(name); n > 2 && strings.HasSuffix(name, "Id") {
		return unicode.IsLower(rune(name[n-3]))
	}
	return false
}

func without(list []string, s string) []string {
	var out []string
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// text renders the starter problem file.
func (s *starter) text() string {
	var b strings.Builder
	ctor := map[Task]string{Regression: "tb.regression", Binary: "tb.binary", Multiclass: "tb.multiclass", autoClassification: "tb.classification"}[s.task]
	validation := "tb.kfold(5)"
	if s.task != Regression {
		validation = "tb.stratifiedKfold(5)"
	}
	comment := func(field string) string {
		if w, ok := s.why[field]; ok {
			return "  // guessed: " + w
		}
		return ""
	}
	fmt.Fprintf(&b, "// A trialbook problem, written by `trialbook init`. Check the guesses marked\n")
	fmt.Fprintf(&b, "// below, fill in the context, then:\n")
	fmt.Fprintf(&b, "//   trialbook check DIR        validate and show the resolved problem\n")
	fmt.Fprintf(&b, "//   trialbook agents-md DIR    see what agents will be told\n")
	fmt.Fprintf(&b, "// Every field is described in docs/problems.md.\n")
	fmt.Fprintf(&b, "local tb = import 'trialbook.libsonnet';\n\n")
	fmt.Fprintf(&b, "%s {%s\n", ctor, comment("task"))
	if s.opts.Name != "" {
		fmt.Fprintf(&b, "  name: %s,\n", jsonnetString(s.opts.Name))
	}
	fmt.Fprintf(&b, "  data: %s,  // relative to this file\n", jsonnetString(s.data))
	fmt.Fprintf(&b, "  target: %s,\n", jsonnetString(s.opts.Target))
	metricComment := comment("metric")
	if metricComment == "" {
		metricComment = "  // allowed here: " + strings.Join(taskMetrics(s.task), ", ")
	}
	fmt.Fprintf(&b, "  metric: %s,%s\n", jsonnetString(s.metric), metricComment)
	fmt.Fprintf(&b, "  validation: %s,  // or tb.groupKfold(5, 'column'), tb.timeSeriesSplit(5, 'column')\n", validation)
	fmt.Fprintf(&b, "  holdout: %v,  // share of rows sealed away from the agents and scored at the end\n", DefaultHoldout)
	fmt.Fprintf(&b, "  seed: %d,\n", DefaultSeed)
	fmt.Fprintf(&b, "\n  // Budgets; durations are strings such as '30m' or '1h30m'.\n")
	fmt.Fprintf(&b, "  trials: %d,\n", DefaultTrials)
	fmt.Fprintf(&b, "  // time: '2h',       // the whole experiment\n")
	fmt.Fprintf(&b, "  // trialTime: '15m', // one trial\n")
	fmt.Fprintf(&b, "  // cellTime: '5m',   // one cell\n\n")
	if len(s.ids) > 0 {
		q := make([]string, len(s.ids))
		for i, id := range s.ids {
			q[i] = jsonnetString(id)
		}
		fmt.Fprintf(&b, "  features: tb.features(ids=[%s]),%s\n", strings.Join(q, ", "), comment("ids"))
	} else {
		fmt.Fprintf(&b, "  // features: tb.features(ids=['Id'], exclude=['Leaky']),\n")
	}
	fmt.Fprintf(&b, "  // kernel: tb.kernel(gpu=true),\n")
	fmt.Fprintf(&b, "  // agent: tb.agents.openai('MODEL'),  // default: the built-in strategist\n\n")
	fmt.Fprintf(&b, "  featureResearch: false,  // true: agents spend trials on features and report them\n")
	fmt.Fprintf(&b, "  explain: false,  // true: every trial explains its model (SHAP or permutation importance)\n")
	ctx := strings.TrimSpace(s.opts.Context)
	if ctx == "" {
		ctx = "TODO: what a row is, units, what missing values mean, columns agents must not use."
	}
	fmt.Fprintf(&b, "  context: |||\n")
	for _, line := range strings.Split(ctx, "\n") {
		if strings.TrimSpace(line) == "" {
			b.WriteString("\n")
			continue
		}
		fmt.Fprintf(&b, "    %s\n", line)
	}
	fmt.Fprintf(&b, "  |||,\n}\n")
	return b.String()
}

// jsonnetString quotes s for Jsonnet: single quotes when plain, JSON escapes
// otherwise (Jsonnet reads JSON strings).
func jsonnetString(s string) string {
	if !strings.ContainsAny(s, "'\\\n\r\t") {
		return "'" + s + "'"
	}
	b, _ := json.Marshal(s)
	return string(b)
}

// writeNew creates dir if needed and file in it, never replacing a file;
// on failure it removes what it created.
func writeNew(dir, file, text string) (err error) {
	// The topmost folder that does not exist yet is what MkdirAll creates
	// and what a failure removes.
	created := ""
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); !errors.Is(err, fs.ErrNotExist) {
			break
		}
		created = d
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		if created != "" {
			os.RemoveAll(created)
		}
		return err
	}
	defer func() {
		if err != nil && created != "" {
			os.RemoveAll(created)
		}
	}()
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		os.Remove(file)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(file)
		return err
	}
	return nil
}
