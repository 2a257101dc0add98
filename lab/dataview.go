package lab

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"trialbook/specs"
)

// The data view's files, relative to the experiment folder. Agents read
// data/; .trialbook/ holds what they must not see.
const (
	viewTrainFile   = "data/train.csv"
	viewHoldoutFile = "data/holdout.csv"
	viewFoldsFile   = "data/folds.json"
	viewMetaFile    = "data/view.json"
	sealedLabels    = ".trialbook/labels.json"
)

// View describes the agents' data view: what the setup cell loads.
type View struct {
	Source       string            `json:"source"`       // the problem's data file
	SourceSHA256 string            `json:"sourceSha256"` // so a changed file is noticed on resume
	Task         specs.Task        `json:"task"`
	Target       string            `json:"target"`
	Features     []string          `json:"features"`
	Classes      []json.RawMessage `json:"classes,omitempty"` // JSON numbers or strings, sorted
	Rows         int               `json:"rows"`              // training rows
	HoldoutRows  int               `json:"holdoutRows"`
	Validation   specs.Validation  `json:"validation"`
	Seed         int64             `json:"seed"`        // the problem's seed
	HoldoutSeed  uint64            `json:"holdoutSeed"` // seeds of the two shuffles, recorded
	FoldSeed     uint64            `json:"foldSeed"`
	Dropped      int               `json:"dropped,omitempty"` // rows without a target, left out
}

// Fold is one split of the training rows, as positions into data/train.csv.
// With validation.repeat N, data/folds.json holds N rounds of K folds in
// order, each round a partition of the training rows of its own.
type Fold struct {
	Train []int `json:"train"`
	Valid []int `json:"valid"`
}

// Data is the prepared view with the labels the harness scores against.
type Data struct {
	View    View
	Folds   []Fold
	Train   Truth // labels of data/train.csv rows
	Holdout Truth // sealed labels of data/holdout.csv rows
}

// Repeats is how many rounds of folds the view holds: validation.repeat,
// or 1 when the problem does not repeat its folds.
func (d *Data) Repeats() int { return max(d.View.Validation.Repeat, 1) }

// FirstRound is the folds of round 1. Folds holds the rounds one after
// another, Repeats() × K splits; without repeats it is all of Folds.
func (d *Data) FirstRound() []Fold { return d.Folds[:len(d.Folds)/d.Repeats()] }

type sealed struct {
	Train   []string `json:"train"`
	Holdout []string `json:"holdout"`
}

// PrepareData builds the data view in dir from the problem's data file, or
// loads it when dir already has one from the same file, so that resuming
// never re-splits.
func PrepareData(p *specs.Problem, dir string) (*Data, error) {
	if d, err := LoadData(dir); err == nil {
		sum, err := fileSHA256(p.Data)
		if err != nil {
			return nil, fmt.Errorf("data %s: %w", p.Data, err)
		}
		if sum != d.View.SourceSHA256 {
			return nil, fmt.Errorf("data %s changed since this experiment split it (sha256 %s, was %s): start a new experiment folder", p.Data, sum[:12], d.View.SourceSHA256[:12])
		}
		return d, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return splitData(p, dir)
}

// LoadData reads a data view that PrepareData wrote.
func LoadData(dir string) (*Data, error) {
	var d Data
	if err := readJSON(filepath.Join(dir, viewMetaFile), &d.View); err != nil {
		return nil, err
	}
	if err := readJSON(filepath.Join(dir, viewFoldsFile), &d.Folds); err != nil {
		return nil, err
	}
	if r := d.Repeats(); len(d.Folds) == 0 || len(d.Folds)%r != 0 {
		return nil, fmt.Errorf("%s: %d folds are not %d rounds of equal size (validation.repeat in %s)", viewFoldsFile, len(d.Folds), r, viewMetaFile)
	}
	var s sealed
	if err := readJSON(filepath.Join(dir, sealedLabels), &s); err != nil {
		return nil, err
	}
	var err error
	if d.Train, err = truthOf(d.View, s.Train); err != nil {
		return nil, fmt.Errorf("%s: %w", sealedLabels, err)
	}
	if d.Holdout, err = truthOf(d.View, s.Holdout); err != nil {
		return nil, fmt.Errorf("%s: %w", sealedLabels, err)
	}
	return &d, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		return err
	}
	return writeFileAtomic(path, append(b, '\n'))
}

// writeFileAtomic writes through a temporary file and a rename, so that a
// kill leaves either the old file or the new one.
func writeFileAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// missing is how CSV files commonly spell a missing value; pandas reads the
// same spellings as NaN.
func missing(s string) bool {
	switch strings.TrimSpace(s) {
	case "", "NA", "N/A", "NaN", "nan", "null", "NULL", "None", "<NA>", "#N/A", "n/a", "-nan", "-NaN":
		return true
	}
	return false
}

func splitData(p *specs.Problem, dir string) (*Data, error) {
	rounds := max(p.Validation.Repeat, 1)
	if rounds > 1 && (p.Validation.Kind == "group_kfold" || p.Validation.Kind == "time_series") {
		// Their folds follow from the data alone, not from a shuffle: every
		// round would be the same folds again.
		return nil, fmt.Errorf("%s: validation.repeat %d: %s folds are the same in every round, so repeating them only repeats the work; use repeat 0, or kfold / stratified_kfold", p.File, p.Validation.Repeat, p.Validation.Kind)
	}
	sum, err := fileSHA256(p.Data)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	header, rows, ti, dropped, err := readRows(p)
	if err != nil {
		return nil, err
	}
	labels := make([]string, len(rows))
	for i, r := range rows {
		labels[i] = strings.TrimSpace(r[ti])
	}
	if len(rows) < 10 {
		return nil, fmt.Errorf("data %s: %d rows with a target; need at least 10", p.Data, len(rows))
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	need := func(field, name string) (int, error) {
		i, ok := col[name]
		if !ok {
			return 0, fmt.Errorf("%s: %s %q is not a column of %s (columns: %s)", p.File, field, name, p.Data, strings.Join(header, ", "))
		}
		return i, nil
	}

	skip := map[string]bool{p.Target: true}
	for _, id := range p.Features.IDs {
		if _, err := need("features.ids", id); err != nil {
			return nil, err
		}
		skip[id] = true
	}
	for _, ex := range p.Features.Exclude {
		if _, err := need("features.exclude", ex); err != nil {
			return nil, err
		}
		skip[ex] = true
	}
	var features []string
	if len(p.Features.Include) > 0 {
		for _, in := range p.Features.Include {
			if _, err := need("features.include", in); err != nil {
				return nil, err
			}
			if !skip[in] {
				features = append(features, in)
			}
		}
	} else {
		for _, h := range header {
			if !skip[h] {
				features = append(features, h)
			}
		}
	}
	if len(features) == 0 {
		return nil, fmt.Errorf("%s: no feature columns left after target, ids and excludes", p.File)
	}

	view := View{
		Source: p.Data, SourceSHA256: sum, Task: p.Task, Target: p.Target, Features: features,
		Validation: p.Validation, Seed: p.Seed, Dropped: dropped,
		HoldoutSeed: uint64(p.Seed)*2 + 1, FoldSeed: uint64(p.Seed)*2 + 2,
	}
	if p.Task != specs.Regression {
		view.Classes = classesOf(labels)
		if p.Task == specs.Binary && len(view.Classes) != 2 {
			return nil, fmt.Errorf("%s: task binary but target %s has %d classes", p.File, p.Target, len(view.Classes))
		}
		if len(view.Classes) < 2 {
			return nil, fmt.Errorf("%s: target %s has a single class", p.File, p.Target)
		}
	}

	// Strata: the class for classification, a decile of the target otherwise.
	strata := stratify(p.Task, labels)
	var groups []string
	if p.Validation.Kind == "group_kfold" {
		gi, err := need("validation.group", p.Validation.Group)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			groups = append(groups, r[gi])
		}
	}
	var order []int // time order, for time_series
	if p.Validation.Kind == "time_series" {
		tci, err := need("validation.time", p.Validation.Time)
		if err != nil {
			return nil, err
		}
		order = timeOrder(rows, tci)
	}

	holdoutRng := rand.New(rand.NewPCG(view.HoldoutSeed, 0x7472))
	var hold []bool
	switch {
	case order != nil:
		hold = make([]bool, len(rows))
		nh := int(math.Round(p.Holdout * float64(len(rows))))
		for _, i := range order[len(order)-nh:] {
			hold[i] = true
		}
	case groups != nil:
		hold = groupHoldout(groups, p.Holdout, holdoutRng)
	default:
		hold = stratifiedHoldout(strata, p.Holdout, holdoutRng)
	}
	var trainIdx, holdIdx []int
	for i := range rows {
		if hold[i] {
			holdIdx = append(holdIdx, i)
		} else {
			trainIdx = append(trainIdx, i)
		}
	}
	k := p.Validation.Folds
	if k < 2 {
		return nil, fmt.Errorf("%s: validation.folds %d: need at least 2", p.File, k)
	}
	if k > len(trainIdx) {
		return nil, fmt.Errorf("%s: validation.folds %d is more than the %d training rows", p.File, k, len(trainIdx))
	}
	sub := func(xs []string) []string {
		out := make([]string, len(trainIdx))
		for j, i := range trainIdx {
			out[j] = xs[i]
		}
		return out
	}
	// assign gives each training row its fold in one round; -1 for rows a
	// time series never validates.
	assign := func(rng *rand.Rand) ([]int, error) {
		switch p.Validation.Kind {
		case "kfold", "":
			return kfoldAssign(len(trainIdx), k, rng), nil
		case "stratified_kfold":
			return stratifiedAssign(sub(strata), k, rng), nil
		case "group_kfold":
			return groupAssign(sub(groups), k), nil
		case "time_series":
			pos := map[int]int{}
			for j, i := range trainIdx {
				pos[i] = j
			}
			var trainOrder []int
			for _, i := range order {
				if !hold[i] {
					trainOrder = append(trainOrder, pos[i])
				}
			}
			return timeSeriesAssign(trainOrder, k), nil
		}
		return nil, fmt.Errorf("%s: validation.kind %q: want kfold, stratified_kfold, group_kfold or time_series", p.File, p.Validation.Kind)
	}
	var folds []Fold
	for r := range rounds {
		a, err := assign(roundRng(view.FoldSeed, r))
		if err != nil {
			return nil, err
		}
		round := foldsOf(a, k, p.Validation.Kind == "time_series")
		for f := range round {
			if len(round[f].Valid) > 0 {
				continue
			}
			if rounds > 1 {
				return nil, fmt.Errorf("%s: fold %d of round %d has no validation rows; use fewer folds", p.File, f+1, r+1)
			}
			return nil, fmt.Errorf("%s: fold %d has no validation rows; use fewer folds", p.File, f+1)
		}
		folds = append(folds, round...)
	}

	view.Rows, view.HoldoutRows = len(trainIdx), len(holdIdx)
	s := sealed{Train: make([]string, len(trainIdx)), Holdout: make([]string, len(holdIdx))}
	for j, i := range trainIdx {
		s.Train[j] = labels[i]
	}
	for j, i := range holdIdx {
		s.Holdout[j] = labels[i]
	}
	if err := os.MkdirAll(filepath.Join(dir, ".trialbook"), 0o700); err != nil {
		return nil, err
	}
	// The meta file last: its presence says the view is complete. A failed
	// write takes back the files written before it.
	writes := []struct {
		file  string
		write func(path string) error
	}{
		{viewTrainFile, func(path string) error { return writeCSV(path, header, rows, trainIdx, -1) }},
		{viewHoldoutFile, func(path string) error { return writeCSV(path, header, rows, holdIdx, ti) }},
		{sealedLabels, func(path string) error { return writeJSON(path, s) }},
		{viewFoldsFile, func(path string) error { return writeJSON(path, folds) }},
		{viewMetaFile, func(path string) error { return writeJSON(path, view) }},
	}
	for i, w := range writes {
		if err := w.write(filepath.Join(dir, w.file)); err != nil {
			for _, done := range writes[:i] {
				os.Remove(filepath.Join(dir, done.file))
			}
			return nil, fmt.Errorf("writing the data view: %w", err)
		}
	}
	return LoadData(dir)
}

// readRows reads the problem's data file, CSV or Parquet, as the text the
// view's CSV files hold: the header, the rows with a target, the target's
// column and how many rows had none. A Parquet source's values are written
// as pandas writes them with to_csv, so trials read the same values that
// pd.read_parquet gives.
func readRows(p *specs.Problem) (header []string, rows [][]string, target, dropped int, err error) {
	t, err := specs.OpenTable(p.Data)
	if err != nil {
		return nil, nil, 0, 0, fmt.Errorf("data: %w", err)
	}
	defer t.Close()
	header = t.Columns()
	target = slices.Index(header, p.Target)
	if target < 0 {
		return nil, nil, 0, 0, fmt.Errorf("%s: target %q is not a column of %s (columns: %s)", p.File, p.Target, p.Data, strings.Join(header, ", "))
	}
	for {
		rec, err := t.Next()
		if errors.Is(err, io.EOF) {
			return header, rows, target, dropped, nil
		}
		if err != nil {
			return nil, nil, 0, 0, fmt.Errorf("data: %w", err)
		}
		if missing(rec[target]) {
			dropped++
			continue
		}
		if p.Task == specs.Regression {
			v, err := strconv.ParseFloat(strings.TrimSpace(rec[target]), 64)
			if err != nil || math.IsInf(v, 0) {
				return nil, nil, 0, 0, fmt.Errorf("data %s %s: target %s is %q, not a number (task is regression)", p.Data, t.Pos(target), p.Target, rec[target])
			}
		}
		rows = append(rows, slices.Clone(rec)) // the table reuses rec
	}
}

func writeCSV(path string, header []string, rows [][]string, idx []int, drop int) error {
	var b strings.Builder
	w := csv.NewWriter(&b)
	cut := func(r []string) []string {
		if drop < 0 {
			return r
		}
		return append(slices.Clone(r[:drop]), r[drop+1:]...)
	}
	if err := w.Write(cut(header)); err != nil {
		return err
	}
	for _, i := range idx {
		if err := w.Write(cut(rows[i])); err != nil {
			return err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	return writeFileAtomic(path, []byte(b.String()))
}

// classesOf sorts the distinct labels the way numpy sorts them: numerically
// when all are numbers (pandas reads them as numbers), else as strings.
func classesOf(labels []string) []json.RawMessage {
	seen := map[string]bool{}
	var distinct []string
	for _, l := range labels {
		if !seen[l] {
			seen[l] = true
			distinct = append(distinct, l)
		}
	}
	numeric := true
	for _, l := range distinct {
		if _, err := strconv.ParseFloat(l, 64); err != nil {
			numeric = false
			break
		}
	}
	if numeric {
		sort.Slice(distinct, func(a, b int) bool {
			x, _ := strconv.ParseFloat(distinct[a], 64)
			y, _ := strconv.ParseFloat(distinct[b], 64)
			return x < y
		})
	} else {
		sort.Strings(distinct)
	}
	out := make([]json.RawMessage, len(distinct))
	for i, l := range distinct {
		if numeric {
			v, _ := strconv.ParseFloat(l, 64)
			out[i], _ = json.Marshal(v)
		} else {
			out[i], _ = json.Marshal(l)
		}
	}
	return out
}

// truthOf turns label strings into what the metrics take.
func truthOf(v View, labels []string) (Truth, error) {
	if v.Task == specs.Regression {
		t := Truth{Values: make([]float64, len(labels))}
		for i, l := range labels {
			x, err := strconv.ParseFloat(l, 64)
			if err != nil {
				return Truth{}, fmt.Errorf("label %d %q is not a number", i, l)
			}
			t.Values[i] = x
		}
		return t, nil
	}
	index := map[string]int{}
	for i, c := range v.Classes {
		var s string
		if err := json.Unmarshal(c, &s); err != nil {
			var f float64
			if err := json.Unmarshal(c, &f); err != nil {
				return Truth{}, fmt.Errorf("class %s is neither a string nor a number", c)
			}
			index[strconv.FormatFloat(f, 'g', -1, 64)] = i
			continue
		}
		index[s] = i
	}
	t := Truth{Classes: make([]int, len(labels)), K: len(v.Classes)}
	for i, l := range labels {
		c, ok := index[l]
		if !ok {
			f, err := strconv.ParseFloat(l, 64)
			if err == nil {
				c, ok = index[strconv.FormatFloat(f, 'g', -1, 64)]
			}
		}
		if !ok {
			return Truth{}, fmt.Errorf("label %d %q is not one of the classes", i, l)
		}
		t.Classes[i] = c
	}
	return t, nil
}

func stratify(task specs.Task, labels []string) []string {
	if task != specs.Regression {
		return labels
	}
	vals := make([]float64, len(labels))
	for i, l := range labels {
		vals[i], _ = strconv.ParseFloat(l, 64)
	}
	idx := make([]int, len(vals))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return vals[idx[a]] < vals[idx[b]] })
	out := make([]string, len(vals))
	for rank, i := range idx {
		out[i] = strconv.Itoa(rank * 10 / len(vals))
	}
	return out
}

// stratifiedHoldout seals off round(share*n) rows of each stratum at random.
func stratifiedHoldout(strata []string, share float64, rng *rand.Rand) []bool {
	hold := make([]bool, len(strata))
	if share <= 0 {
		return hold
	}
	by := map[string][]int{}
	var keys []string
	for i, s := range strata {
		if _, ok := by[s]; !ok {
			keys = append(keys, s)
		}
		by[s] = append(by[s], i)
	}
	sort.Strings(keys)
	for _, k := range keys {
		idx := by[k]
		rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		n := int(math.Round(share * float64(len(idx))))
		if n >= len(idx) {
			n = len(idx) - 1 // keep every class in training
		}
		for _, i := range idx[:n] {
			hold[i] = true
		}
	}
	return hold
}

func groupHoldout(groups []string, share float64, rng *rand.Rand) []bool {
	hold := make([]bool, len(groups))
	if share <= 0 {
		return hold
	}
	var names []string
	size := map[string]int{}
	for _, g := range groups {
		if size[g] == 0 {
			names = append(names, g)
		}
		size[g]++
	}
	sort.Strings(names)
	rng.Shuffle(len(names), func(a, b int) { names[a], names[b] = names[b], names[a] })
	want := int(math.Round(share * float64(len(groups))))
	sealedGroups := map[string]bool{}
	n := 0
	for _, g := range names[:len(names)-1] {
		if n >= want {
			break
		}
		sealedGroups[g] = true
		n += size[g]
	}
	for i, g := range groups {
		hold[i] = sealedGroups[g]
	}
	return hold
}

// foldsOf turns a fold assignment into K train/valid splits. A time series
// trains each fold on the rows of earlier folds and those never validated;
// otherwise a fold trains on every row it does not validate.
func foldsOf(assign []int, k int, timeSeries bool) []Fold {
	folds := make([]Fold, k)
	for f := range folds {
		for j, a := range assign {
			switch {
			case a == f:
				folds[f].Valid = append(folds[f].Valid, j)
			case !timeSeries, a == -1, a < f:
				folds[f].Train = append(folds[f].Train, j)
			}
		}
	}
	return folds
}

// roundRng shuffles round r (from 0) of the folds. Round 0 uses the stream
// the folds always used, so a problem without repeats splits as it always
// did; round r uses stream 0x6b66+r of the same fold seed.
func roundRng(foldSeed uint64, r int) *rand.Rand {
	return rand.New(rand.NewPCG(foldSeed, 0x6b66+uint64(r)))
}

func kfoldAssign(n, k int, rng *rand.Rand) []int {
	perm := rng.Perm(n)
	out := make([]int, n)
	for pos, i := range perm {
		out[i] = pos * k / n
	}
	return out
}

// stratifiedAssign deals each stratum's shuffled rows round-robin over the
// folds, continuing where the previous stratum stopped so fold sizes stay even.
func stratifiedAssign(strata []string, k int, rng *rand.Rand) []int {
	by := map[string][]int{}
	var keys []string
	for i, s := range strata {
		if _, ok := by[s]; !ok {
			keys = append(keys, s)
		}
		by[s] = append(by[s], i)
	}
	sort.Strings(keys)
	out := make([]int, len(strata))
	next := 0
	for _, key := range keys {
		idx := by[key]
		rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		for _, i := range idx {
			out[i] = next % k
			next++
		}
	}
	return out
}

// groupAssign puts the largest groups first, each into the fold with the
// fewest rows so far (scikit-learn's GroupKFold).
func groupAssign(groups []string, k int) []int {
	size := map[string]int{}
	var names []string
	for _, g := range groups {
		if size[g] == 0 {
			names = append(names, g)
		}
		size[g]++
	}
	sort.SliceStable(names, func(a, b int) bool {
		if size[names[a]] != size[names[b]] {
			return size[names[a]] > size[names[b]]
		}
		return names[a] < names[b]
	})
	load := make([]int, k)
	fold := map[string]int{}
	for _, g := range names {
		f := 0
		for j := 1; j < k; j++ {
			if load[j] < load[f] {
				f = j
			}
		}
		fold[g] = f
		load[f] += size[g]
	}
	out := make([]int, len(groups))
	for i, g := range groups {
		out[i] = fold[g]
	}
	return out
}

// timeSeriesAssign splits rows in time order into k+1 blocks: block 0 only
// trains; fold f validates on block f+1 and trains on every block before it
// (scikit-learn's TimeSeriesSplit). Rows of block 0 are -1.
func timeSeriesAssign(order []int, k int) []int {
	n := len(order)
	out := make([]int, n)
	test := n / (k + 1)
	first := n - k*test
	for pos, i := range order {
		if pos < first {
			out[i] = -1
		} else {
			out[i] = (pos - first) / test
		}
	}
	return out
}

func timeOrder(rows [][]string, col int) []int {
	idx := make([]int, len(rows))
	for i := range idx {
		idx[i] = i
	}
	numeric := true
	for _, r := range rows {
		if _, err := strconv.ParseFloat(r[col], 64); err != nil {
			numeric = false
			break
		}
	}
	sort.SliceStable(idx, func(a, b int) bool {
		x, y := rows[idx[a]][col], rows[idx[b]][col]
		if numeric {
			fx, _ := strconv.ParseFloat(x, 64)
			fy, _ := strconv.ParseFloat(y, 64)
			return fx < fy
		}
		return x < y // ISO dates sort as strings
	})
	return idx
}
