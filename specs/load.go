package specs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-jsonnet"
)

// ProblemFile is the file name Load looks for when given a folder.
const ProblemFile = "problem.jsonnet"

// autoClassification is the task tb.classification sets: binary or
// multiclass is decided from the number of classes in the data.
const autoClassification Task = "classification"

// Defaults a problem gets for what it does not say; lib/trialbook.libsonnet
// uses the same values and a test keeps them equal.
const (
	DefaultSeed          = 42
	DefaultHoldout       = 0.2
	DefaultCellsPerTrial = 40
	DefaultFolds         = 5
	DefaultTrials        = 20
	DefaultAgent         = "builtin"
	DefaultFixAttempts   = 3
)

// LoadOptions tunes how a problem file is evaluated.
type LoadOptions struct {
	// JPath are extra import folders (-J), searched after the embedded
	// library and the problem file's own folder, in order.
	JPath []string
	// ExtVars are Jsonnet external variables (std.extVar) as strings.
	ExtVars map[string]string
}

// Load evaluates a problem file (or the problem.jsonnet in a folder),
// validates it and checks it against its dataset: the data file exists, the
// target and every named column are columns, the metric fits the task, and
// the target's values fit the task and metric. Every problem found is
// reported at once in an *Error; Jsonnet errors keep file:line:column.
func Load(ctx context.Context, path string, opts LoadOptions) (*Problem, error) {
	file, err := problemPath(path)
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read problem: %w", err)
	}
	return load(ctx, file, string(src), opts)
}

// problemPath resolves a file or a folder holding problem.jsonnet, keeping
// the path as the user wrote it for messages.
func problemPath(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s does not exist; give a problem file or a folder holding %s", path, ProblemFile)
		}
		return "", err
	}
	if !st.IsDir() {
		return path, nil
	}
	file := filepath.Join(path, ProblemFile)
	if _, err := os.Stat(file); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s has no %s; write one with 'trialbook init %s --data FILE --target COLUMN'", path, ProblemFile, path)
		}
		return "", err
	}
	return file, nil
}

// load checks src as if it were the file named file.
func load(ctx context.Context, file, src string, opts LoadOptions) (*Problem, error) {
	out, err := evaluate(file, src, opts)
	if err != nil {
		return nil, &Error{File: file, Issues: []Issue{{Message: err.Error()}}}
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	d := json.NewDecoder(bytes.NewReader(out))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("%s: decode evaluated problem: %w", file, err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, &Error{File: file, Issues: []Issue{{Message: fmt.Sprintf("the file evaluates to %s; want an object such as tb.regression { data: ..., target: ... }", kindOf(v))}}}
	}
	c := checker{dir: filepath.Dir(abs), shownDir: filepath.Dir(file)}
	p := c.problem(obj)
	p.File = abs
	if p.Name == "" {
		p.Name = defaultName(abs)
	}
	if len(c.issues) == 0 {
		c.data(ctx, p)
	}
	if len(c.issues) > 0 {
		return nil, &Error{File: file, Issues: c.issues}
	}
	return p, nil
}

func evaluate(file, src string, opts LoadOptions) ([]byte, error) {
	vm := jsonnet.MakeVM()
	vm.Importer(newImporter(opts.JPath))
	vm.ErrorFormatter = &errorFormatter{ErrorFormatter: vm.ErrorFormatter}
	for k, v := range opts.ExtVars {
		vm.ExtVar(k, v)
	}
	// EvaluateSnippet, not the anonymous kind: imports must resolve from the
	// problem file's folder.
	out, err := vm.EvaluateSnippet(file, src)
	if err != nil {
		lines := strings.Split(strings.TrimRight(err.Error(), "\n"), "\n")
		for i, l := range lines {
			lines[i] = strings.TrimRight(l, " \t")
		}
		return nil, errors.New(strings.Join(lines, "\n"))
	}
	return []byte(out), nil
}

// errorFormatter puts a runtime error's location before its message, as
// compilers do, and keeps the located frames of the trace below it; static
// (syntax) errors keep go-jsonnet's form, which already starts with one.
type errorFormatter struct {
	jsonnet.ErrorFormatter
}

func (f *errorFormatter) Format(err error) string {
	re, ok := err.(jsonnet.RuntimeError)
	if !ok {
		return f.ErrorFormatter.Format(err)
	}
	var frames []string
	head := re.Msg
	for _, fr := range re.StackTrace {
		if loc := fr.Loc.String(); fr.Loc.File != nil && loc != "" {
			if len(frames) == 0 {
				head = loc + ": " + re.Msg
			}
			frames = append(frames, strings.TrimRight("\t"+loc+"\t"+fr.Name, "\t"))
		}
	}
	if len(frames) > 12 {
		frames = append(frames[:6], append([]string{"\t..."}, frames[len(frames)-6:]...)...)
	}
	return strings.Join(append([]string{head}, frames...), "\n")
}

// defaultName names a problem after its folder (problem.jsonnet) or file.
func defaultName(abs string) string {
	base := filepath.Base(abs)
	if base == ProblemFile {
		return filepath.Base(filepath.Dir(abs))
	}
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// checker turns the evaluated JSON into a Problem, collecting issues.
type checker struct {
	dir      string // the problem file's folder; relative paths start here
	shownDir string // the same folder as the user named it, for messages
	issues   issues
}

// topFields are the fields a problem may have, in the order they are checked.
func topFields() []string {
	return []string{"name", "task", "data", "target", "metric", "validation", "holdout", "seed",
		"trials", "time", "trialTime", "cellTime", "cellsPerTrial", "features", "kernel", "agent",
		"featureResearch", "explain", "context", "recipes", "agentsMd"}
}

func (c *checker) problem(obj map[string]any) *Problem {
	c.unknown("", obj, topFields())
	p := &Problem{}
	p.Name = c.str(obj, "", "name", "")
	p.Task = c.task(obj)
	p.Data = c.required(obj, "data", "the dataset's path (CSV or Parquet), relative to the problem file")
	p.Target = c.required(obj, "target", "the name of the column to predict")
	p.Metric = c.metric(obj, p.Task)
	p.Validation = c.validation(obj, p.Task)
	p.Holdout = c.number(obj, "", "holdout", DefaultHoldout)
	if h := p.Holdout; h < 0 || h >= 0.5 {
		c.issues.add("holdout", "%s is out of range; want a share of rows in [0, 0.5), e.g. 0.2 (0 means no holdout)", show(h))
	}
	p.Seed = c.integer(obj, "", "seed", DefaultSeed)
	if p.Seed < 0 {
		c.issues.add("seed", "%d is negative; want a whole number ≥ 0", p.Seed)
	}
	p.Budget.Trials = int(c.integer(obj, "", "trials", DefaultTrials))
	if p.Budget.Trials < 1 {
		c.issues.add("trials", "%d is not a budget; want a whole number of trials ≥ 1", p.Budget.Trials)
	}
	p.Budget.Time = c.duration(obj, "", "time")
	p.Budget.TrialTime = c.duration(obj, "", "trialTime")
	p.Budget.CellTime = c.duration(obj, "", "cellTime")
	p.Budget.CellsPerTrial = int(c.integer(obj, "", "cellsPerTrial", DefaultCellsPerTrial))
	if p.Budget.CellsPerTrial < 1 {
		c.issues.add("cellsPerTrial", "%d is not a budget; want a whole number of cells ≥ 1", p.Budget.CellsPerTrial)
	}
	p.Features = c.features(obj)
	p.Kernel = c.kernel(obj)
	p.Agent = c.agent(obj)
	p.FeatureResearch = c.boolean(obj, "", "featureResearch")
	p.Explain = c.boolean(obj, "", "explain")
	p.Context = strings.TrimSpace(c.str(obj, "", "context", ""))
	for i, r := range c.strList(obj, "", "recipes") {
		p.Recipes = append(p.Recipes, c.recipe(fmt.Sprintf("recipes[%d]", i), r))
	}
	p.AgentsMD = c.agentsMD(obj)
	return p
}

func (c *checker) task(obj map[string]any) Task {
	allowed := []string{string(Regression), string(Binary), string(Multiclass), string(autoClassification)}
	v, ok := obj["task"]
	if !ok {
		c.issues.add("task", "missing; start from tb.regression, tb.classification, tb.binary or tb.multiclass, or set task to one of: %s", quoteList(allowed))
		return ""
	}
	s, ok := v.(string)
	if !ok {
		c.issues.add("task", "%s is %s; want one of: %s", show(v), kindOf(v), quoteList(allowed))
		return ""
	}
	for _, a := range allowed {
		if s == a {
			return Task(s)
		}
	}
	c.issues.add("task", "%q is not a task;%s allowed: %s", s, didYouMean(s, allowed), quoteList(allowed))
	return ""
}

// taskMetrics lists the metrics a (possibly auto) task accepts.
func taskMetrics(t Task) []string {
	if t == autoClassification {
		return MetricNames(Binary)
	}
	return MetricNames(t)
}

func (c *checker) metric(obj map[string]any, task Task) Metric {
	v, ok := obj["metric"]
	if !ok {
		if task == "" {
			return Metric{}
		}
		name := defaultMetric(task)
		m, _ := LookupMetric(name)
		return m
	}
	field, name := "metric", ""
	switch x := v.(type) {
	case string:
		name = x
	case map[string]any: // tb.metrics.rmse
		c.unknown("metric", x, []string{"name", "direction", "tasks"})
		field = "metric.name"
		name = c.str(x, "metric", "name", "")
	default:
		c.issues.add("metric", "%s is %s; want a metric name such as \"rmse\", or tb.metrics.rmse", show(v), kindOf(v))
		return Metric{}
	}
	info, ok := findMetric(name)
	if !ok {
		c.issues.add(field, "%q is not a metric;%s allowed: %s", name, didYouMean(name, MetricNames("")), quoteList(MetricNames("")))
		return Metric{}
	}
	if x, isObj := v.(map[string]any); isObj {
		if d, ok := x["direction"].(string); ok && Direction(d) != info.Direction {
			c.issues.add("metric.direction", "%q is wrong for %s; %s is always %s", d, name, name, info.Direction)
		}
	}
	if task != "" {
		t := task
		if t == autoClassification {
			t = Binary
		}
		if !info.fits(t) {
			kind := "a classification"
			if info.fits(Regression) {
				kind = "a regression"
			}
			c.issues.add(field, "%q is %s metric and the task is %s; allowed for %s: %s", name, kind, task, task, quoteList(taskMetrics(task)))
		}
	}
	return Metric{Name: info.Name, Direction: info.Direction}
}

func (c *checker) validation(obj map[string]any, task Task) Validation {
	kinds := []string{"kfold", "stratified_kfold", "group_kfold", "time_series"}
	v, ok := obj["validation"]
	if !ok {
		if task == Regression {
			return Validation{Kind: "kfold", Folds: DefaultFolds}
		}
		return Validation{Kind: "stratified_kfold", Folds: DefaultFolds}
	}
	o, ok := v.(map[string]any)
	if !ok {
		c.issues.add("validation", "%s is %s; want a protocol such as tb.kfold(5), tb.stratifiedKfold(5), tb.groupKfold(5, 'column') or tb.timeSeriesSplit(5, 'column')", show(v), kindOf(v))
		return Validation{}
	}
	c.unknown("validation", o, []string{"kind", "folds", "group", "time", "repeat"})
	val := Validation{
		Kind:   c.str(o, "validation", "kind", ""),
		Folds:  int(c.integer(o, "validation", "folds", DefaultFolds)),
		Group:  c.str(o, "validation", "group", ""),
		Time:   c.str(o, "validation", "time", ""),
		Repeat: int(c.integer(o, "validation", "repeat", 0)),
	}
	switch val.Kind {
	case "kfold", "stratified_kfold":
	case "group_kfold":
		if val.Group == "" {
			c.issues.add("validation.group", "missing; group_kfold needs the column that groups rows: tb.groupKfold(5, 'column')")
		}
	case "time_series":
		if val.Time == "" {
			c.issues.add("validation.time", "missing; time_series needs the column that orders rows: tb.timeSeriesSplit(5, 'column')")
		}
	case "":
		c.issues.add("validation.kind", "missing; allowed: %s", quoteList(kinds))
	default:
		c.issues.add("validation.kind", "%q is not a validation protocol;%s allowed: %s", val.Kind, didYouMean(val.Kind, kinds), quoteList(kinds))
	}
	if val.Folds < 2 {
		c.issues.add("validation.folds", "%d is too few; want at least 2 folds", val.Folds)
	}
	if val.Repeat < 0 {
		c.issues.add("validation.repeat", "%d is negative; want 0 (no repeats) or more", val.Repeat)
	}
	if val.Repeat > 1 && (val.Kind == "group_kfold" || val.Kind == "time_series") {
		// lab makes these folds from the data alone, not from a shuffle.
		c.issues.add("validation.repeat", "%d: %s folds are the same in every round, so repeating them only repeats the work; want 0, or kfold / stratified_kfold", val.Repeat, val.Kind)
	}
	return val
}

func (c *checker) features(obj map[string]any) Features {
	v, ok := obj["features"]
	if !ok {
		return Features{}
	}
	o, ok := v.(map[string]any)
	if !ok {
		c.issues.add("features", "%s is %s; want an object such as tb.features(ids=['Id'], exclude=['Leak'])", show(v), kindOf(v))
		return Features{}
	}
	c.unknown("features", o, []string{"include", "exclude", "ids"})
	return Features{
		Include: c.strList(o, "features", "include"),
		Exclude: c.strList(o, "features", "exclude"),
		IDs:     c.strList(o, "features", "ids"),
	}
}

func (c *checker) kernel(obj map[string]any) Kernel {
	k := Kernel{Sandbox: SandboxAuto, Transport: "ipc", Memory: -1, Processes: -1}
	v, ok := obj["kernel"]
	if !ok {
		return k
	}
	o, ok := v.(map[string]any)
	if !ok {
		c.issues.add("kernel", "%s is %s; want an object such as tb.kernel(name='python3', gpu=true)", show(v), kindOf(v))
		return k
	}
	c.unknown("kernel", o, []string{"name", "gpu", "sandbox", "transport", "memory", "processes"})
	k.Name = c.str(o, "kernel", "name", "")
	k.GPU = c.boolean(o, "kernel", "gpu")
	switch k.Sandbox = c.str(o, "kernel", "sandbox", SandboxAuto); k.Sandbox {
	case SandboxAuto, SandboxRequired, SandboxOff:
	default:
		c.issues.add("kernel.sandbox", "%q is not a sandbox mode; want 'auto' (sandbox where the host can), 'required' (refuse to run without) or 'off'", k.Sandbox)
	}
	switch k.Transport = c.str(o, "kernel", "transport", "ipc"); k.Transport {
	case "ipc", "tcp":
	default:
		c.issues.add("kernel.transport", "%q is not a transport; want 'ipc' (Unix sockets, the default) or 'tcp'", k.Transport)
	}
	if k.Transport == "tcp" && k.Sandbox == SandboxRequired {
		c.issues.add("kernel.transport", "'tcp' cannot reach a sandboxed kernel (it has no network), and sandbox is 'required'; want transport='ipc'")
	}
	k.Memory = c.size(o, "kernel", "memory")
	if v, set := o["processes"]; set && v != nil {
		if n := c.integer(o, "kernel", "processes", -1); n < 0 {
			c.issues.add("kernel.processes", "%d is negative; want a count of processes and threads such as 512, or 0 for no cap", n)
		} else {
			k.Processes = int(n)
		}
	}
	return k
}

// size reads a memory size: bytes as a number, or a string such as "4GiB",
// "512MiB", "2G"; absent or null is -1 (the default).
func (c *checker) size(obj map[string]any, prefix, key string) int64 {
	v, ok := obj[key]
	if !ok || v == nil {
		return -1
	}
	field := join(prefix, key)
	if _, isNum := v.(json.Number); isNum {
		n := c.integer(obj, prefix, key, -1)
		if n < 0 {
			c.issues.add(field, "%d is negative; want a size such as '4GiB', or 0 for no cap", n)
			return -1
		}
		return n
	}
	s, ok := v.(string)
	if !ok {
		c.issues.add(field, "%s is %s; want a size such as '4GiB' or '512MiB'", show(v), kindOf(v))
		return -1
	}
	n, err := ParseSize(s)
	if err != nil {
		c.issues.add(field, "%v", err)
		return -1
	}
	return n
}

// ParseSize reads a memory size such as "4GiB", "512 MiB", "2G" or "1.5g"
// (K, M, G, T with or without "iB" or "B" are powers of 1024) or a plain
// number of bytes.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" {
		return 0, fmt.Errorf("%q is not a size; want a string such as '4GiB', '512MiB' or '2G'", s)
	}
	unit = strings.TrimSuffix(strings.TrimSuffix(unit, "ib"), "b")
	mult := map[string]float64{"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("%q has an unknown unit; want B, KiB, MiB, GiB or TiB, e.g. '4GiB'", s)
	}
	return int64(f * mult), nil
}

func (c *checker) agent(obj map[string]any) Agent {
	a := Agent{Kind: DefaultAgent, FixAttempts: DefaultFixAttempts}
	v, ok := obj["agent"]
	if !ok {
		return a
	}
	o, ok := v.(map[string]any)
	if !ok {
		c.issues.add("agent", "%s is %s; want an object such as tb.agents.builtin or tb.agents.openai('gpt-4.1')", show(v), kindOf(v))
		return a
	}
	c.unknown("agent", o, []string{"kind", "model", "baseURL", "temperature", "maxTokensPerTrial", "maxTokens", "fixAttempts",
		"mode", "maxToolCalls", "maxCostPerTrial", "maxCost", "images", "retry"})
	kinds := []string{"builtin", "openai", "anthropic"}
	a.Kind = c.str(o, "agent", "kind", DefaultAgent)
	if !contains(kinds, a.Kind) {
		c.issues.add("agent.kind", "%q is not an agent;%s allowed: %s", a.Kind, didYouMean(a.Kind, kinds), quoteList(kinds))
	}
	a.Model = c.str(o, "agent", "model", "")
	a.BaseURL = c.str(o, "agent", "baseURL", "")
	a.Temperature = c.number(o, "agent", "temperature", 0)
	if a.Temperature < 0 || a.Temperature > 2 {
		c.issues.add("agent.temperature", "%s is out of range; want a number in [0, 2]", show(a.Temperature))
	}
	a.MaxTokensPerTrial = int(c.integer(o, "agent", "maxTokensPerTrial", 0))
	a.MaxTokens = int(c.integer(o, "agent", "maxTokens", 0))
	a.FixAttempts = int(c.integer(o, "agent", "fixAttempts", DefaultFixAttempts))
	for _, f := range []struct {
		name string
		n    int
	}{{"maxTokensPerTrial", a.MaxTokensPerTrial}, {"maxTokens", a.MaxTokens}, {"fixAttempts", a.FixAttempts},
		{"maxToolCalls", a.MaxToolCalls}} {
		if f.n < 0 {
			c.issues.add("agent."+f.name, "%d is negative; want 0 or more", f.n)
		}
	}
	c.llmAgent(o, &a)
	return a
}

// llmAgent reads the fields only LLM agents use.
func (c *checker) llmAgent(o map[string]any, a *Agent) {
	modes := []string{"interactive", "whole"}
	a.Mode = c.str(o, "agent", "mode", "")
	if a.Mode != "" && !contains(modes, a.Mode) {
		c.issues.add("agent.mode", "%q is not a mode;%s allowed: %s (interactive: tool calling, cell by cell; whole: the whole trial at once, for small local models)", a.Mode, didYouMean(a.Mode, modes), quoteList(modes))
	}
	a.MaxToolCalls = int(c.integer(o, "agent", "maxToolCalls", 0))
	a.MaxCostPerTrial = c.number(o, "agent", "maxCostPerTrial", 0)
	a.MaxCost = c.number(o, "agent", "maxCost", 0)
	for _, f := range []struct {
		name string
		v    float64
	}{{"maxCostPerTrial", a.MaxCostPerTrial}, {"maxCost", a.MaxCost}} {
		if f.v < 0 {
			c.issues.add("agent."+f.name, "%s is negative; want a cost in US dollars, 0 for no cap", show(f.v))
		}
	}
	a.Images = c.boolean(o, "agent", "images")
	v, ok := o["retry"]
	if !ok || v == nil {
		return
	}
	r, ok := v.(map[string]any)
	if !ok {
		c.issues.add("agent.retry", "%s is %s; want an object such as { total: '2m', attempt: '60s', base: '1s', max: '30s' }", show(v), kindOf(v))
		return
	}
	c.unknown("agent.retry", r, []string{"total", "attempt", "base", "max"})
	a.Retry = AgentRetry{
		Total:   c.duration(r, "agent.retry", "total"),
		Attempt: c.duration(r, "agent.retry", "attempt"),
		Base:    c.duration(r, "agent.retry", "base"),
		Max:     c.duration(r, "agent.retry", "max"),
	}
	if t, at := a.Retry.Total, a.Retry.Attempt; t > 0 && at > t {
		c.issues.add("agent.retry.attempt", "%s is longer than agent.retry.total %s; want attempt ≤ total", at, t)
	}
	if b, m := a.Retry.Base, a.Retry.Max; m > 0 && b > m {
		c.issues.add("agent.retry.base", "%s is longer than agent.retry.max %s; want base ≤ max", b, m)
	}
}

func (c *checker) agentsMD(obj map[string]any) AgentsMD {
	v, ok := obj["agentsMd"]
	if !ok {
		return AgentsMD{}
	}
	o, ok := v.(map[string]any)
	if !ok {
		c.issues.add("agentsMd", "%s is %s; want an object such as { sections: { rules: tb.section(append='...') } }", show(v), kindOf(v))
		return AgentsMD{}
	}
	c.unknown("agentsMd", o, []string{"title", "preamble", "sections", "order", "template"})
	md := AgentsMD{
		Title:    c.str(o, "agentsMd", "title", ""),
		Preamble: c.str(o, "agentsMd", "preamble", ""),
		Order:    c.strList(o, "agentsMd", "order"),
		Template: c.str(o, "agentsMd", "template", ""),
	}
	sv, ok := o["sections"]
	if !ok {
		c.sectionRefs(md)
		return md
	}
	so, ok := sv.(map[string]any)
	if !ok {
		c.issues.add("agentsMd.sections", "%s is %s; want an object from section id to tb.section(...) or null", show(sv), kindOf(sv))
		c.sectionRefs(md)
		return md
	}
	md.Sections = map[string]Section{}
	for _, id := range sortedKeys(so) {
		path := "agentsMd.sections." + id
		if so[id] == nil {
			md.Sections[id] = Section{Omit: true}
			continue
		}
		s, ok := so[id].(map[string]any)
		if !ok {
			c.issues.add(path, "%s is %s; want tb.section(...) or null to drop the section", show(so[id]), kindOf(so[id]))
			continue
		}
		c.unknown(path, s, []string{"title", "body", "prepend", "append", "after"})
		md.Sections[id] = Section{
			Title:   c.str(s, path, "title", ""),
			Body:    c.str(s, path, "body", ""),
			Prepend: c.str(s, path, "prepend", ""),
			Append:  c.str(s, path, "append", ""),
			After:   c.str(s, path, "after", ""),
		}
	}
	c.sectionRefs(md)
	return md
}

// sectionRefs checks that new sections are complete and that after, order
// and the template refer to sections and parse.
func (c *checker) sectionRefs(md AgentsMD) {
	known := SectionIDs()
	all := append([]string(nil), known...)
	for id := range md.Sections {
		if !contains(all, id) {
			all = append(all, id)
		}
	}
	sort.Strings(all[len(known):])
	for _, id := range all[len(known):] {
		if s := md.Sections[id]; !s.Omit && (s.Title == "" || s.Body == "") {
			c.issues.add("agentsMd.sections."+id, "is not a default section, so it needs a title and a body to be added;%s default sections: %s", didYouMean(id, known), quoteList(known))
		}
	}
	for _, id := range sortedSectionIDs(md.Sections) {
		if after := md.Sections[id].After; after != "" && !contains(all, after) {
			c.issues.add("agentsMd.sections."+id+".after", "%q is not a section;%s sections: %s", after, didYouMean(after, all), quoteList(all))
		}
	}
	for i, id := range md.Order {
		if !contains(all, id) {
			c.issues.add(fmt.Sprintf("agentsMd.order[%d]", i), "%q is not a section;%s sections: %s", id, didYouMean(id, all), quoteList(all))
		}
	}
	if md.Template != "" {
		if _, err := parseTemplate(md.Template); err != nil {
			c.issues.add("agentsMd.template", "%v", strings.TrimPrefix(err.Error(), "agentsMd.template: "))
		}
	}
}

func sortedSectionIDs(m map[string]Section) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// unknown reports fields that trialbook does not know, with the nearest
// known name; hidden (::) fields never reach here, so team libraries keep
// their helpers hidden.
func (c *checker) unknown(prefix string, obj map[string]any, known []string) {
	for _, k := range sortedKeys(obj) {
		if contains(known, k) {
			continue
		}
		c.issues.add(join(prefix, k), "unknown field;%s allowed: %s (hide helpers with '::')", didYouMean(k, known), quoteList(known))
	}
}

func (c *checker) str(obj map[string]any, prefix, key, def string) string {
	v, ok := obj[key]
	if !ok {
		return def
	}
	s, ok := v.(string)
	if !ok {
		c.issues.add(join(prefix, key), "%s is %s; want a string", show(v), kindOf(v))
		return def
	}
	return s
}

// required reads a string field that must be there and not be empty.
func (c *checker) required(obj map[string]any, key, what string) string {
	v, ok := obj[key]
	if !ok {
		c.issues.add(key, "missing; give %s", what)
		return ""
	}
	if s, ok := v.(string); ok && s == "" {
		c.issues.add(key, "is empty; give %s", what)
		return ""
	}
	return c.str(obj, "", key, "")
}

func (c *checker) boolean(obj map[string]any, prefix, key string) bool {
	v, ok := obj[key]
	if !ok {
		return false
	}
	b, ok := v.(bool)
	if !ok {
		c.issues.add(join(prefix, key), "%s is %s; want true or false", show(v), kindOf(v))
	}
	return b
}

func (c *checker) number(obj map[string]any, prefix, key string, def float64) float64 {
	v, ok := obj[key]
	if !ok {
		return def
	}
	n, ok := v.(json.Number)
	if !ok {
		c.issues.add(join(prefix, key), "%s is %s; want a number", show(v), kindOf(v))
		return def
	}
	f, err := n.Float64()
	if err != nil {
		c.issues.add(join(prefix, key), "%s is not a number: %v", n, err)
		return def
	}
	return f
}

func (c *checker) integer(obj map[string]any, prefix, key string, def int64) int64 {
	v, ok := obj[key]
	if !ok {
		return def
	}
	n, ok := v.(json.Number)
	if !ok {
		c.issues.add(join(prefix, key), "%s is %s; want a whole number", show(v), kindOf(v))
		return def
	}
	i, err := n.Int64()
	if err != nil {
		f, ferr := n.Float64()
		if ferr == nil && f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return int64(f) // Jsonnet writes 3 as 3, but 3.0 computed as 3
		}
		c.issues.add(join(prefix, key), "%s is not a whole number", n)
		return def
	}
	return i
}

// duration reads a Go duration string such as "30m" or "1h30m"; absent is 0,
// no limit.
func (c *checker) duration(obj map[string]any, prefix, key string) time.Duration {
	v, ok := obj[key]
	if !ok || v == nil {
		return 0
	}
	field := join(prefix, key)
	s, ok := v.(string)
	if !ok {
		c.issues.add(field, "%s is %s; want a duration string such as \"30m\" or \"1h30m\"", show(v), kindOf(v))
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		c.issues.add(field, "%q is not a duration; want a string such as \"90s\", \"30m\" or \"1h30m\" (units: s, m, h)", s)
		return 0
	}
	if d < 0 {
		c.issues.add(field, "%q is negative; want a duration ≥ 0 (0 means no limit)", s)
		return 0
	}
	return d
}

func (c *checker) strList(obj map[string]any, prefix, key string) []string {
	v, ok := obj[key]
	if !ok || v == nil {
		return nil
	}
	field := join(prefix, key)
	arr, ok := v.([]any)
	if !ok {
		c.issues.add(field, "%s is %s; want an array of strings", show(v), kindOf(v))
		return nil
	}
	var out []string
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			c.issues.add(fmt.Sprintf("%s[%d]", field, i), "%s is %s; want a string", show(e), kindOf(e))
			continue
		}
		out = append(out, s)
	}
	return out
}

// path resolves p relative to the problem file's folder.
func (c *checker) path(p string) string {
	if p == "" {
		return ""
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(c.dir, p)
	}
	return filepath.Clean(p)
}

// recipe resolves a recipe file and checks that it exists.
func (c *checker) recipe(field, p string) string {
	abs := c.path(p)
	if _, err := os.Stat(abs); err != nil {
		c.issues.add(field, "%q does not exist (looked for %s)", p, c.shown(p))
	}
	return abs
}

// shown is a path from the problem file as the user would find it.
func (c *checker) shown(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.shownDir, p)
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
