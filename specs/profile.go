package specs

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Profile describes a dataset the way AGENTS.md shows it: its size, every
// column's dtype, missing share and cardinality, and the target's
// distribution or class balance. It is computed in one streaming pass.
type Profile struct {
	File    string          `json:"file"`   // the dataset's base name; never its path
	Format  string          `json:"format"` // csv or parquet
	Bytes   int64           `json:"bytes"`
	Rows    int64           `json:"rows"`
	Columns []ColumnProfile `json:"columns"`
	Target  TargetProfile   `json:"target"`
}

// ColumnProfile is one column. Distinct is exact up to DistinctCap values;
// past that DistinctMore is set and Distinct stops growing.
type ColumnProfile struct {
	Name         string       `json:"name"`
	Dtype        string       `json:"dtype"` // as pandas shows it: int64, float64, bool, str, ...
	Role         string       `json:"role"`  // target, id, excluded, group, time, feature, unused
	Missing      int64        `json:"missing"`
	MissingShare float64      `json:"missingShare"`
	Distinct     int          `json:"distinct"`
	DistinctMore bool         `json:"distinctMore,omitempty"`
	Min          *float64     `json:"min,omitempty"` // numeric columns
	Max          *float64     `json:"max,omitempty"`
	Mean         *float64     `json:"mean,omitempty"`
	Top          []ValueCount `json:"top,omitempty"` // non-numeric columns: the most frequent values
	// From and To are a date or timestamp column's range (Parquet), as
	// 2006-01-02 or 2006-01-02 15:04:05 in UTC.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// DistinctCap is how many distinct values a column's count is exact up to.
const DistinctCap = distinctCap

// ValueCount is a value with how often it occurs.
type ValueCount struct {
	Value string  `json:"value"`
	Count int64   `json:"count"`
	Share float64 `json:"share"` // of the non-missing values
}

// TargetProfile is the target's distribution (regression) or class balance
// (classification).
type TargetProfile struct {
	Name    string       `json:"name"`
	Task    Task         `json:"task"`
	Missing int64        `json:"missing"`
	Summary *Summary     `json:"summary,omitempty"` // regression
	Classes []ValueCount `json:"classes,omitempty"` // classification, in CLASSES order
}

// Summary is a numeric distribution. Quantiles are exact up to 100,000 values
// and from a uniform sample of that size beyond.
type Summary struct {
	Count  int64   `json:"count"`
	Mean   float64 `json:"mean"`
	Std    float64 `json:"std"`
	Min    float64 `json:"min"`
	P05    float64 `json:"p05"`
	P25    float64 `json:"p25"`
	Median float64 `json:"median"`
	P75    float64 `json:"p75"`
	P95    float64 `json:"p95"`
	Max    float64 `json:"max"`
	Skew   float64 `json:"skew"`
}

// ProfileData profiles a problem's dataset, with each column's role taken
// from the problem.
func ProfileData(ctx context.Context, p *Problem) (*Profile, error) {
	return ProfileFile(ctx, p.Data, ProfileOptions{
		Target: p.Target, Task: p.Task, Features: p.Features,
		Group: p.Validation.Group, Time: p.Validation.Time,
	})
}

// ProfileOptions says which column is the target and what role the others
// play; lab uses it to profile its own data view (the training part) rather
// than the whole dataset.
type ProfileOptions struct {
	Target   string
	Task     Task // regression, binary or multiclass; "" guesses from the target's values
	Features Features
	Group    string
	Time     string
}

// ProfileFile profiles a CSV or Parquet file in one streaming pass, in
// memory bounded by the number of columns, not rows.
func ProfileFile(ctx context.Context, path string, opts ProfileOptions) (*Profile, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("profile data: %w", err)
	}
	kind, err := dataFormat(path)
	if err != nil {
		return nil, fmt.Errorf("profile data: %w", err)
	}
	cols, err := readColumns(path)
	if err != nil {
		return nil, fmt.Errorf("profile data: %w", err)
	}
	accs := make([]*columnAcc, len(cols))
	for i, name := range cols {
		accs[i] = newColumnAcc(name)
		if name == opts.Target {
			accs[i].withSample()
		}
	}
	if opts.Target != "" && indexOf(cols, opts.Target) < 0 {
		return nil, fmt.Errorf("profile data: %q is not a column of %s", opts.Target, filepath.Base(path))
	}
	rows, err := scanTable(ctx, path, accs)
	if err != nil {
		return nil, fmt.Errorf("profile data: %w", err)
	}
	prof := &Profile{File: filepath.Base(path), Format: kind, Bytes: st.Size(), Rows: rows}
	for _, a := range accs {
		prof.Columns = append(prof.Columns, a.profile(opts))
		if a.name == opts.Target {
			prof.Target = a.targetProfile(opts.Task)
		}
	}
	return prof, nil
}

func (a *columnAcc) profile(opts ProfileOptions) ColumnProfile {
	cp := ColumnProfile{
		Name: a.name, Dtype: a.inferredDtype(), Role: role(a.name, opts),
		Missing: a.missing, Distinct: len(a.distinct), DistinctMore: a.distinctCapped,
	}
	if a.count > 0 {
		cp.MissingShare = float64(a.missing) / float64(a.count)
	}
	if a.temporal != "" {
		cp.From, cp.To = a.timeRange()
	} else if a.isNumeric() && cp.Dtype != "bool" {
		mn, mx, mean := a.min, a.max, a.mean
		cp.Min, cp.Max, cp.Mean = &mn, &mx, &mean
	} else {
		cp.Top = a.top(3)
	}
	return cp
}

func role(name string, o ProfileOptions) string {
	switch {
	case name == o.Target:
		return "target"
	case contains(o.Features.IDs, name):
		return "id"
	case contains(o.Features.Exclude, name):
		return "excluded"
	case name == o.Group:
		return "group"
	case name == o.Time:
		return "time"
	case len(o.Features.Include) > 0 && !contains(o.Features.Include, name):
		return "unused"
	}
	return "feature"
}

// top returns the n most frequent values, ties broken by value.
func (a *columnAcc) top(n int) []ValueCount {
	all := a.valueCounts()
	sort.SliceStable(all, func(i, j int) bool { return all[i].Count > all[j].Count })
	if len(all) > n {
		all = all[:n]
	}
	return all
}

// valueCounts lists every counted value in class order.
func (a *columnAcc) valueCounts() []ValueCount {
	present := a.count - a.missing
	var out []ValueCount
	for _, k := range a.classes() {
		c := a.distinct[k]
		out = append(out, ValueCount{Value: k, Count: c, Share: float64(c) / float64(max(present, 1))})
	}
	return out
}

func (a *columnAcc) targetProfile(task Task) TargetProfile {
	tp := TargetProfile{Name: a.name, Task: task, Missing: a.missing}
	if task == "" {
		task = guessTask(a)
		tp.Task = task
	}
	if task == Regression {
		if a.isNumeric() {
			tp.Summary = a.summary()
		}
		return tp
	}
	if !a.distinctCapped {
		tp.Classes = a.valueCounts()
	}
	return tp
}

func (a *columnAcc) summary() *Summary {
	sorted := append([]float64(nil), a.reservoir...)
	sort.Float64s(sorted)
	return &Summary{
		Count: a.numeric, Mean: a.mean, Std: a.std(), Min: a.min, Max: a.max, Skew: a.skew(),
		P05: quantile(sorted, 0.05), P25: quantile(sorted, 0.25), Median: quantile(sorted, 0.5),
		P75: quantile(sorted, 0.75), P95: quantile(sorted, 0.95),
	}
}

// guessTask says what a target looks like: numbers with many values are a
// regression target; labels, or few whole numbers, are classes.
func guessTask(a *columnAcc) Task {
	if a.isNumeric() && (a.distinctCapped || len(a.distinct) > 20 || !a.textIntOrParquetInt()) {
		return Regression
	}
	if !a.distinctCapped && len(a.distinct) == 2 {
		return Binary
	}
	if a.distinctCapped || len(a.distinct) > maxClasses {
		return Regression
	}
	return Multiclass
}

// textIntOrParquetInt says whether every value is a whole number.
func (a *columnAcc) textIntOrParquetInt() bool {
	if a.dtype != "" {
		return strings.HasPrefix(a.dtype, "int") || strings.HasPrefix(a.dtype, "uint")
	}
	return a.textInt
}

// Markdown renders the profile for AGENTS.md: a summary line, the target,
// and a table of columns.
func (p *Profile) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "`%s`: %s rows × %d columns (%s, %s).\n\n", p.File, thousands(p.Rows), len(p.Columns), map[string]string{formatCSV: "CSV", formatParquet: "Parquet"}[p.Format], humanBytes(p.Bytes))
	b.WriteString(p.dtypeLine())
	b.WriteString("\n\n")
	b.WriteString(p.targetMarkdown())
	b.WriteString("\n\n| column | dtype | role | missing | distinct | values |\n|---|---|---|---:|---:|---|\n")
	for _, c := range p.Columns {
		distinct := strconv.Itoa(c.Distinct)
		if c.DistinctMore {
			distinct = "> " + distinct
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", mdCell(c.Name), c.Dtype, c.Role, percent(c.MissingShare), distinct, mdCell(c.values()))
	}
	return b.String()
}

func (p *Profile) dtypeLine() string {
	counts := map[string]int{}
	var order []string
	missing := 0
	for _, c := range p.Columns {
		if counts[c.Dtype] == 0 {
			order = append(order, c.Dtype)
		}
		counts[c.Dtype]++
		if c.Missing > 0 {
			missing++
		}
	}
	sort.SliceStable(order, func(i, j int) bool { return counts[order[i]] > counts[order[j]] })
	var parts []string
	for _, d := range order {
		parts = append(parts, fmt.Sprintf("%d %s", counts[d], d))
	}
	var missingWords string
	switch missing {
	case 0:
		missingWords = "No column has missing values."
	case 1:
		missingWords = "1 column has missing values."
	default:
		missingWords = fmt.Sprintf("%d columns have missing values.", missing)
	}
	return fmt.Sprintf("Dtypes as pandas reads them: %s. %s", strings.Join(parts, ", "), missingWords)
}

func (p *Profile) targetMarkdown() string {
	t := p.Target
	if t.Name == "" {
		return "No target column."
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Target `%s` (%s)", t.Name, t.Task)
	if t.Missing > 0 {
		fmt.Fprintf(&b, ", missing in %s rows", thousands(t.Missing))
	}
	switch {
	case t.Summary != nil:
		s := t.Summary
		fmt.Fprintf(&b, ": mean %s, std %s, skew %.2f.\n\n", num(s.Mean), num(s.Std), s.Skew)
		b.WriteString("| min | 5% | 25% | median | 75% | 95% | max |\n|---:|---:|---:|---:|---:|---:|---:|\n")
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |", num(s.Min), num(s.P05), num(s.P25), num(s.Median), num(s.P75), num(s.P95), num(s.Max))
	case len(t.Classes) > 0:
		fmt.Fprintf(&b, ", %d classes:\n\n| class | rows | share |\n|---|---:|---:|\n", len(t.Classes))
		for i, c := range t.Classes {
			if i > 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(&b, "| %s | %s | %s |", mdCell(c.Value), thousands(c.Count), percent(c.Share))
		}
	default:
		b.WriteString(".")
	}
	return b.String()
}

// values summarises a column in a few words: its range, or its top values.
func (c ColumnProfile) values() string {
	if c.From != "" {
		return c.From + " … " + c.To
	}
	if c.Min != nil {
		return fmt.Sprintf("%s … %s, mean %s", num(*c.Min), num(*c.Max), num(*c.Mean))
	}
	var parts []string
	for _, v := range c.Top {
		parts = append(parts, fmt.Sprintf("%s %s", v.Value, percent(v.Share)))
	}
	if c.Distinct > len(c.Top) {
		parts = append(parts, "…")
	}
	return strings.Join(parts, ", ")
}

// num prints a number briefly: whole numbers as they are, others with four
// significant digits, large ones without decimals.
func num(f float64) string {
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0):
		return strconv.FormatFloat(f, 'g', -1, 64)
	case f == math.Trunc(f) && math.Abs(f) < 1e15:
		return strconv.FormatFloat(f, 'f', 0, 64)
	case math.Abs(f) >= 1000:
		return strconv.FormatFloat(f, 'f', 0, 64)
	}
	return strconv.FormatFloat(f, 'g', 4, 64)
}

func percent(share float64) string {
	switch {
	case share == 0:
		return "0%"
	case share < 0.001:
		return "<0.1%"
	}
	return strconv.FormatFloat(share*100, 'f', 1, 64) + "%"
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// mdCell keeps a value from breaking a markdown table.
func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\n", " ")
	if r := []rune(s); len(r) > 40 {
		s = string(r[:37]) + "..."
	}
	return s
}
