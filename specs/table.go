package specs

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// Formats trialbook reads, by file extension.
const (
	formatCSV     = "csv"
	formatParquet = "parquet"
)

// Caps that keep a scan's memory bounded whatever the file's size.
const (
	distinctCap  = 1000   // distinct values counted exactly up to this many per column
	reservoirCap = 100000 // numeric target values kept for quantiles
	maxClasses   = 200    // more distinct labels than this is not a classification target
)

// dataFormat returns the table format of path from its extension.
func dataFormat(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return formatCSV, nil
	case ".parquet", ".pq":
		return formatParquet, nil
	}
	return "", fmt.Errorf("%s is neither CSV (.csv) nor Parquet (.parquet)", filepath.Base(path))
}

// naTokens are the strings pandas.read_csv reads as missing by default; the
// profile counts them the same way so it agrees with what a trial sees.
func isNA(s string) bool {
	switch s {
	case "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
		"1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null":
		return true
	}
	return false
}

// readColumns returns a table's column names, reading only its header or
// Parquet footer.
func readColumns(path string) ([]string, error) {
	kind, err := dataFormat(path)
	if err != nil {
		return nil, err
	}
	if kind == formatParquet {
		pf, closeFile, err := openParquet(path)
		if err != nil {
			return nil, err
		}
		defer closeFile()
		cols, _, err := parquetColumns(pf)
		return cols, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := newCSVReader(f)
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s is empty; want a header line with the column names", filepath.Base(path))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return csvHeader(header, filepath.Base(path))
}

func newCSVReader(r io.Reader) *csv.Reader {
	cr := csv.NewReader(bufio.NewReaderSize(r, 1<<20))
	cr.ReuseRecord = true
	return cr
}

// csvHeader names columns the way pandas does: a blank name becomes
// "Unnamed: i"; a name given twice is an error, since a target or feature
// could not be told apart.
func csvHeader(rec []string, file string) ([]string, error) {
	cols := make([]string, len(rec))
	seen := map[string]int{}
	for i, name := range rec {
		if i == 0 {
			name = strings.TrimPrefix(name, "\ufeff")
		}
		if name == "" {
			name = fmt.Sprintf("Unnamed: %d", i)
		}
		if j, dup := seen[name]; dup {
			return nil, fmt.Errorf("%s: column %q appears twice (columns %d and %d); give each column its own name", file, name, j+1, i+1)
		}
		seen[name] = i
		cols[i] = name
	}
	return cols, nil
}

// scanTable streams a table once and feeds the columns with a non-nil
// accumulator; it returns the number of rows. Nothing is materialised but the
// accumulators' bounded state.
func scanTable(ctx context.Context, path string, accs []*columnAcc) (int64, error) {
	kind, err := dataFormat(path)
	if err != nil {
		return 0, err
	}
	scan := scanCSV
	if kind == formatParquet {
		scan = scanParquet
	}
	rows, err := scan(ctx, path, accs)
	for _, a := range accs {
		if a != nil {
			a.settle()
		}
	}
	return rows, err
}

func scanCSV(ctx context.Context, path string, accs []*columnAcc) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	base := filepath.Base(path)
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	r := newCSVReader(f)
	if _, err := r.Read(); err != nil {
		return 0, fmt.Errorf("%s: header: %w", base, err)
	}
	var rows int64
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return rows, fmt.Errorf("%s: %w", base, err)
		}
		rows++
		if rows%65536 == 0 {
			if err := ctx.Err(); err != nil {
				return rows, err
			}
		}
		line, _ := r.FieldPos(0)
		for i, a := range accs {
			if a != nil {
				a.addText(rec[i], int64(line))
			}
		}
	}
}

func openParquet(path string) (*parquet.File, func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	pf, err := parquet.OpenFile(f, st.Size(), parquet.SkipBloomFilters(true), parquet.SkipPageIndex(true))
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s is not a readable Parquet file: %w", filepath.Base(path), err)
	}
	return pf, func() { f.Close() }, nil
}

// parquetColumns returns the top-level column names and their pandas dtypes;
// nested columns are refused because a trial's DataFrame cannot hold them
// as features.
func parquetColumns(pf *parquet.File) ([]string, []parquetType, error) {
	var names []string
	var types []parquetType
	for _, field := range pf.Schema().Fields() {
		if !field.Leaf() || field.Repeated() {
			return nil, nil, fmt.Errorf("column %q is nested or repeated; trialbook reads flat tables only", field.Name())
		}
		names = append(names, field.Name())
		types = append(types, parquetTypeOf(field.Type()))
	}
	return names, types, nil
}

// parquetType is a Parquet column's type as pandas (with pyarrow) shows it,
// and, for dates and timestamps, how to read its integers as time.
type parquetType struct {
	dtype    string
	temporal string // "", "date" (days), "ms", "us", "ns"
}

func parquetTypeOf(t parquet.Type) parquetType {
	if lt := t.LogicalType(); lt != nil {
		switch v := lt.Value.(type) {
		case *format.StringType, *format.EnumType, *format.JsonType:
			return parquetType{dtype: "str"}
		case *format.DateType:
			return parquetType{dtype: "object", temporal: "date"}
		case *format.TimestampType:
			unit := "us"
			switch v.Unit.Value.(type) {
			case *format.MilliSeconds:
				unit = "ms"
			case *format.NanoSeconds:
				unit = "ns"
			}
			dtype := "datetime64[" + unit + "]"
			if v.IsAdjustedToUTC {
				dtype = "datetime64[" + unit + ", UTC]"
			}
			return parquetType{dtype: dtype, temporal: unit}
		case *format.DecimalType:
			return parquetType{dtype: "object"}
		case *format.IntType:
			if v.IsSigned {
				return parquetType{dtype: fmt.Sprintf("int%d", v.BitWidth)}
			}
			return parquetType{dtype: fmt.Sprintf("uint%d", v.BitWidth)}
		}
	}
	switch t.Kind() {
	case parquet.Boolean:
		return parquetType{dtype: "bool"}
	case parquet.Int32:
		return parquetType{dtype: "int32"}
	case parquet.Int64:
		return parquetType{dtype: "int64"}
	case parquet.Int96:
		return parquetType{dtype: "datetime64[ns]"}
	case parquet.Float:
		return parquetType{dtype: "float32"}
	case parquet.Double:
		return parquetType{dtype: "float64"}
	}
	return parquetType{dtype: "object"}
}

func scanParquet(ctx context.Context, path string, accs []*columnAcc) (int64, error) {
	pf, closeFile, err := openParquet(path)
	if err != nil {
		return 0, err
	}
	defer closeFile()
	_, types, err := parquetColumns(pf)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	for i, a := range accs {
		if a != nil {
			a.dtype, a.temporal = types[i].dtype, types[i].temporal
		}
	}
	buf := make([]parquet.Value, 4096)
	for _, rg := range pf.RowGroups() {
		chunks := rg.ColumnChunks()
		for i, a := range accs {
			if a == nil {
				continue
			}
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			if err := readChunk(chunks[i], a, buf); err != nil {
				return 0, fmt.Errorf("%s: column %q: %w", filepath.Base(path), a.name, err)
			}
		}
	}
	return pf.NumRows(), nil
}

func readChunk(cc parquet.ColumnChunk, a *columnAcc, buf []parquet.Value) error {
	pages := cc.Pages()
	defer pages.Close()
	for {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		vr := p.Values()
		for {
			n, err := vr.ReadValues(buf)
			for _, v := range buf[:n] {
				a.addValue(v)
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				parquet.Release(p)
				return err
			}
		}
		parquet.Release(p)
	}
}

// columnAcc accumulates one column's profile in bounded memory.
type columnAcc struct {
	name     string
	dtype    string // fixed for Parquet; inferred from text for CSV
	temporal string // Parquet dates and timestamps: see parquetType
	// tmin, tmax are a temporal column's range in its own unit.
	tmin, tmax int64
	hasTime    bool
	sample     bool // keep a reservoir of numeric values (the target)

	count   int64 // values seen, missing included
	missing int64

	// Text inference (CSV): the values seen so far all parse as ...
	textInt, textFloat, textBool bool
	firstText                    string // first value that is not a number
	firstTextLine                int64

	numeric        int64 // non-missing numeric values
	mean, m2, m3   float64
	min, max       float64
	zeros          int64
	negative       float64
	negativeLine   int64
	hasNegative    bool
	firstZeroLine  int64
	reservoir      []float64
	reservoirRand  *rand.Rand
	distinct       map[string]int64
	numDistinct    map[float64]int64
	distinctCapped bool
}

func newColumnAcc(name string) *columnAcc {
	return &columnAcc{
		name: name, textInt: true, textFloat: true, textBool: true,
		distinct: map[string]int64{}, numDistinct: map[float64]int64{},
		min: math.Inf(1), max: math.Inf(-1),
	}
}

// withSample makes the accumulator keep a uniform sample of numeric values
// for quantiles; the fixed seed makes profiles reproducible.
func (a *columnAcc) withSample() *columnAcc {
	a.sample = true
	a.reservoirRand = rand.New(rand.NewPCG(42, 42))
	return a
}

// addText takes one CSV field; line is its line in the file, for messages.
func (a *columnAcc) addText(s string, line int64) {
	a.count++
	if isNA(s) {
		a.missing++
		return
	}
	if a.textBool && !isBoolText(s) {
		a.textBool = false
	}
	if a.textFloat {
		t := strings.TrimSpace(s)
		if f, err := strconv.ParseFloat(t, 64); err == nil {
			if a.textInt && !isIntText(t) {
				a.textInt = false
			}
			a.addNumber(f, line)
			a.addNumKey(f)
			return
		}
		a.textFloat, a.textInt = false, false
		a.firstText, a.firstTextLine = s, line
	}
	a.addKey(s)
}

// isIntText says whether s is an optionally signed run of decimal digits,
// which pandas reads as an integer.
func isIntText(s string) bool {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// timeRange returns a temporal column's first and last time as text.
func (a *columnAcc) timeRange() (from, to string) {
	if !a.hasTime {
		return "", ""
	}
	return formatTime(a.tmin, a.temporal), formatTime(a.tmax, a.temporal)
}

func formatTime(v int64, unit string) string {
	var t time.Time
	switch unit {
	case "date":
		return time.Unix(v*86400, 0).UTC().Format(time.DateOnly)
	case "ms":
		t = time.UnixMilli(v)
	case "us":
		t = time.UnixMicro(v)
	default:
		t = time.Unix(0, v)
	}
	t = t.UTC()
	if t.Equal(t.Truncate(24 * time.Hour)) {
		return t.Format(time.DateOnly)
	}
	return t.Format(time.DateTime)
}

func isBoolText(s string) bool {
	switch s {
	case "True", "False", "true", "false", "TRUE", "FALSE":
		return true
	}
	return false
}

// addValue takes one Parquet value.
func (a *columnAcc) addValue(v parquet.Value) {
	a.count++
	if v.IsNull() {
		a.missing++
		return
	}
	if a.temporal != "" && (v.Kind() == parquet.Int32 || v.Kind() == parquet.Int64) {
		t := v.Int64()
		if v.Kind() == parquet.Int32 {
			t = int64(v.Int32())
		}
		if !a.hasTime || t < a.tmin {
			a.tmin = t
		}
		if !a.hasTime || t > a.tmax {
			a.tmax = t
		}
		a.hasTime = true
		a.addNumKey(float64(t))
		return
	}
	switch v.Kind() {
	case parquet.Int96:
		a.addKey(v.Int96().String())
	case parquet.Boolean:
		if v.Boolean() {
			a.addKey("True")
		} else {
			a.addKey("False")
		}
	case parquet.Int32:
		a.addNumber(float64(v.Int32()), a.count)
		a.addNumKey(float64(v.Int32()))
	case parquet.Int64:
		a.addNumber(float64(v.Int64()), a.count)
		a.addNumKey(float64(v.Int64()))
	case parquet.Float, parquet.Double:
		f := v.Double()
		if v.Kind() == parquet.Float {
			f = float64(v.Float())
		}
		if math.IsNaN(f) { // pandas counts NaN as missing
			a.missing++
			return
		}
		a.addNumber(f, a.count)
		a.addNumKey(f)
	default:
		s := string(v.ByteArray())
		if a.firstText == "" {
			a.firstText, a.firstTextLine = s, a.count
		}
		a.addKey(s)
	}
}

func (a *columnAcc) addNumber(f float64, line int64) {
	a.numeric++
	// Running central moments (Welford, with the third moment), stable for
	// large values such as prices.
	n := float64(a.numeric)
	d := f - a.mean
	dn := d / n
	term := d * dn * (n - 1)
	a.mean += dn
	a.m3 += term*dn*(n-2) - 3*dn*a.m2
	a.m2 += term
	a.min = math.Min(a.min, f)
	a.max = math.Max(a.max, f)
	if f == 0 {
		if a.zeros == 0 {
			a.firstZeroLine = line
		}
		a.zeros++
	}
	if f < 0 && !a.hasNegative {
		a.hasNegative, a.negative, a.negativeLine = true, f, line
	}
	if a.sample {
		if len(a.reservoir) < reservoirCap {
			a.reservoir = append(a.reservoir, f)
		} else if j := a.reservoirRand.Int64N(a.numeric); j < reservoirCap {
			a.reservoir[j] = f
		}
	}
}

func (a *columnAcc) addKey(k string) {
	if c, ok := a.distinct[k]; ok {
		a.distinct[k] = c + 1
		return
	}
	if len(a.distinct)+len(a.numDistinct) >= distinctCap {
		a.distinctCapped = true
		return
	}
	// Clone: the CSV reader's record shares one backing string per line.
	a.distinct[strings.Clone(k)] = 1
}

// addNumKey counts a number's value; numbers are kept apart from text so
// that "1" and "1.0" are one value, as pandas counts them, and so that
// counting needs no formatting.
func (a *columnAcc) addNumKey(f float64) {
	if c, ok := a.numDistinct[f]; ok {
		a.numDistinct[f] = c + 1
		return
	}
	if len(a.distinct)+len(a.numDistinct) >= distinctCap {
		a.distinctCapped = true
		return
	}
	a.numDistinct[f] = 1
}

// settle folds the counted numbers into the text counts once the scan is
// over, formatted as Python prints them (1, 2.5).
func (a *columnAcc) settle() {
	for f, c := range a.numDistinct {
		a.distinct[strconv.FormatFloat(f, 'g', -1, 64)] += c
	}
	a.numDistinct = map[float64]int64{}
}

// isNumeric says whether every non-missing value is a number.
func (a *columnAcc) isNumeric() bool {
	return a.numeric > 0 && a.numeric == a.count-a.missing
}

// inferredDtype is the dtype pandas.read_csv gives the column, or the
// Parquet column's dtype.
func (a *columnAcc) inferredDtype() string {
	if a.dtype != "" {
		if strings.HasPrefix(a.dtype, "int") && a.missing > 0 {
			return "float64" // pandas has no missing integers in numpy dtypes
		}
		return a.dtype
	}
	present := a.count - a.missing
	switch {
	case present == 0:
		return "float64" // an all-missing column reads as NaNs
	case a.textBool:
		if a.missing > 0 {
			return "object"
		}
		return "bool"
	case a.textInt && a.missing == 0:
		return "int64"
	case a.textFloat:
		return "float64"
	}
	return "str"
}

// classes returns the distinct values sorted as pandas sorts labels:
// numerically for numbers, lexically otherwise.
func (a *columnAcc) classes() []string {
	keys := make([]string, 0, len(a.distinct))
	for k := range a.distinct {
		keys = append(keys, k)
	}
	if a.isNumeric() {
		sort.Slice(keys, func(i, j int) bool {
			x, _ := strconv.ParseFloat(keys[i], 64)
			y, _ := strconv.ParseFloat(keys[j], 64)
			return x < y
		})
	} else {
		sort.Strings(keys)
	}
	return keys
}

func (a *columnAcc) std() float64 {
	if a.numeric < 2 {
		return 0
	}
	return math.Sqrt(a.m2 / float64(a.numeric-1))
}

// skew is the sample skewness (adjusted Fisher–Pearson, as pandas computes it).
func (a *columnAcc) skew() float64 {
	n := float64(a.numeric)
	if n < 3 || a.m2 == 0 {
		return 0
	}
	g1 := math.Sqrt(n) * a.m3 / math.Pow(a.m2, 1.5)
	return g1 * math.Sqrt(n*(n-1)) / (n - 2)
}

// quantile returns the q-quantile of the sampled values, interpolated
// linearly as numpy does by default.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	return sorted[lo] + (sorted[hi]-sorted[lo])*(pos-float64(lo))
}
