package specs

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
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
		pf, closeFile, err := openParquet(path, filepath.Base(path))
		if err != nil {
			return nil, err
		}
		defer closeFile()
		pcols, err := parquetColumns(pf)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
		}
		cols := make([]string, len(pcols))
		for i, c := range pcols {
			cols[i] = c.name
		}
		return cols, nil
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

// openParquet opens a Parquet file; name is how errors call it.
func openParquet(path, name string) (pf *parquet.File, closeFile func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	// The Parquet library panics on some malformed footers (a decimal with
	// no length, say); to the user that is just a file it cannot read.
	defer func() {
		if r := recover(); r != nil {
			f.Close()
			pf, closeFile, err = nil, nil, fmt.Errorf("%s is not a readable Parquet file: %v", name, r)
		}
	}()
	pf, err = parquet.OpenFile(f, st.Size(), parquet.SkipBloomFilters(true), parquet.SkipPageIndex(true))
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("%s is not a readable Parquet file: %w", name, err)
	}
	return pf, func() { f.Close() }, nil
}

// damaged prefixes what the Parquet library says about data it cannot read.
const damaged = "its data cannot be read; the file is damaged or cut short"

// parquetColumn is one column of a Parquet file as pandas.read_parquet shows
// it.
type parquetColumn struct {
	name string
	leaf int // its column chunk in every row group
	typ  parquetType
}

// parquetColumns returns the file's columns, in file order. An unnamed
// index that pandas saved ("__index_level_0__") is left out: it is row
// numbers left over from a filter or a sort, which pd.read_parquet makes the
// index. A named index (df.set_index("Id")) is kept as a column, as
// df.to_csv writes it, so it can be an id or a feature. Nested columns and
// raw bytes are refused: a trial's DataFrame cannot use them as features,
// and the CSV data view could not carry them.
func parquetColumns(pf *parquet.File) ([]parquetColumn, error) {
	meta := readPandasMeta(pf)
	var cols []parquetColumn
	seen := map[string]int{}
	for leaf, field := range pf.Schema().Fields() {
		if j, dup := seen[field.Name()]; dup {
			return nil, fmt.Errorf("column %q appears twice (columns %d and %d); give each column its own name", field.Name(), j+1, leaf+1)
		}
		seen[field.Name()] = leaf
		if !field.Leaf() || field.Repeated() {
			return nil, fmt.Errorf("column %q is nested (a list, map or struct); trialbook reads flat tables only: flatten it into plain columns or drop it before writing the file (df.drop(columns=[%q]).to_parquet(...))", field.Name(), field.Name())
		}
		if meta.unnamedIndex[field.Name()] {
			continue
		}
		typ := parquetTypeOf(field.Type())
		if typ.text == textInt96 && meta.zoned[field.Name()] {
			typ.dtype, typ.utc = "datetime64[ns, UTC]", true
		}
		if typ.text == textBytes && isFloat16(pf, leaf, field.Name()) {
			typ = parquetType{dtype: "float16", text: textFloat16}
		}
		if typ.text == textBytes {
			return nil, fmt.Errorf("column %q holds raw bytes (Parquet %s without a string type), which pandas reads as bytes objects; decode it to text (df[%q] = df[%q].str.decode(\"utf-8\")) or drop it before writing the file", field.Name(), field.Type(), field.Name(), field.Name())
		}
		cols = append(cols, parquetColumn{name: field.Name(), leaf: leaf, typ: typ})
	}
	return cols, nil
}

// isFloat16 says whether a flat file's leaf column is annotated FLOAT16,
// which the Parquet library does not map to a type of its own.
func isFloat16(pf *parquet.File, leaf int, name string) bool {
	elems := pf.Metadata().Schema // the root, then the leaves of a flat schema
	if leaf+1 >= len(elems) || elems[leaf+1].Name != name {
		return false
	}
	_, ok := elems[leaf+1].LogicalType.Value.(*format.Float16Type)
	return ok
}

// pandasMeta is what parquetColumns uses of the "pandas" metadata that
// pandas writes into a Parquet file.
type pandasMeta struct {
	unnamedIndex map[string]bool // columns that hold an unnamed index
	zoned        map[string]bool // timestamp columns with a time zone
}

// readPandasMeta reads the file's pandas metadata: its "index_columns" (a
// RangeIndex is recorded without a column; an unnamed one with a column is
// named "__index_level_N__") and which columns are "datetimetz", which
// legacy INT96 timestamps cannot say themselves.
func readPandasMeta(pf *parquet.File) pandasMeta {
	meta, ok := pf.Lookup("pandas")
	if !ok {
		return pandasMeta{}
	}
	var m struct {
		IndexColumns []json.RawMessage `json:"index_columns"`
		Columns      []struct {
			FieldName  string `json:"field_name"`
			PandasType string `json:"pandas_type"`
		} `json:"columns"`
	}
	if json.Unmarshal([]byte(meta), &m) != nil {
		return pandasMeta{} // unreadable pandas metadata: pandas ignores it too
	}
	pm := pandasMeta{unnamedIndex: map[string]bool{}, zoned: map[string]bool{}}
	for _, raw := range m.IndexColumns {
		var name string
		if json.Unmarshal(raw, &name) == nil && strings.HasPrefix(name, "__index_level_") {
			pm.unnamedIndex[name] = true
		}
	}
	for _, c := range m.Columns {
		if c.PandasType == "datetimetz" {
			pm.zoned[c.FieldName] = true
		}
	}
	return pm
}

// parquetType is a Parquet column's type as pandas (with pyarrow) shows it,
// for dates and timestamps how to read its integers as time, and how
// DataFrame.to_csv writes its values.
type parquetType struct {
	dtype    string
	temporal string // "", "date" (days), "ms", "us", "ns"
	text     textKind
	utc      bool   // a timestamp adjusted to UTC: pandas shows it with +00:00
	scale    int32  // a decimal's digits after the point
	clock    string // a time of day's unit: "ms", "us" or "ns"
}

// textKind says how a Parquet value is written as CSV text.
type textKind int

const (
	textString textKind = iota
	textBool
	textInt
	textUint
	textFloat32
	textFloat64
	textFloat16
	textDate
	textTimestamp
	textInt96 // legacy nanosecond timestamps
	textTime
	textDecimal
	textUUID
	textBytes // refused
)

func parquetTypeOf(t parquet.Type) parquetType {
	if lt := t.LogicalType(); lt != nil {
		switch v := lt.Value.(type) {
		case *format.StringType, *format.EnumType, *format.JsonType:
			return parquetType{dtype: "str", text: textString}
		case *format.DateType:
			return parquetType{dtype: "object", temporal: "date", text: textDate}
		case *format.TimestampType:
			unit := timeUnit(v.Unit)
			dtype := "datetime64[" + unit + "]"
			if v.IsAdjustedToUTC {
				dtype = "datetime64[" + unit + ", UTC]"
			}
			return parquetType{dtype: dtype, temporal: unit, text: textTimestamp, utc: v.IsAdjustedToUTC}
		case *format.TimeType:
			return parquetType{dtype: "object", text: textTime, clock: timeUnit(v.Unit)}
		case *format.DecimalType:
			return parquetType{dtype: "object", text: textDecimal, scale: v.Scale}
		case *format.UUIDType:
			return parquetType{dtype: "object", text: textUUID}
		case *format.Float16Type:
			return parquetType{dtype: "float16", text: textFloat16}
		case *format.IntType:
			if v.IsSigned {
				return parquetType{dtype: fmt.Sprintf("int%d", v.BitWidth), text: textInt}
			}
			return parquetType{dtype: fmt.Sprintf("uint%d", v.BitWidth), text: textUint}
		case *format.NullType:
			return parquetType{dtype: "object", text: textString} // every value is null
		}
	}
	switch t.Kind() {
	case parquet.Boolean:
		return parquetType{dtype: "bool", text: textBool}
	case parquet.Int32:
		return parquetType{dtype: "int32", text: textInt}
	case parquet.Int64:
		return parquetType{dtype: "int64", text: textInt}
	case parquet.Int96:
		return parquetType{dtype: "datetime64[ns]", temporal: "ns", text: textInt96}
	case parquet.Float:
		return parquetType{dtype: "float32", text: textFloat32}
	case parquet.Double:
		return parquetType{dtype: "float64", text: textFloat64}
	}
	return parquetType{dtype: "object", text: textBytes}
}

func timeUnit(u format.TimeUnit) string {
	switch u.Value.(type) {
	case *format.MilliSeconds:
		return "ms"
	case *format.NanoSeconds:
		return "ns"
	}
	return "us"
}

// floatText writes a float as DataFrame.to_csv does (numpy's str of the
// column's type, Python's repr for float64): the shortest text that reads
// back to the same value in that type (bits is 32 for float32 columns),
// "1.0" for whole numbers, positional from 1e-4 up to 1e16 (float64) or 1e6
// (float32), scientific outside. NaN is missing: empty.
func floatText(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return ""
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	limit := 1e16
	if bits == 32 {
		limit = 1e6
	}
	if a := math.Abs(f); a != 0 && (a < 1e-4 || a >= limit) {
		return strconv.FormatFloat(f, 'e', -1, bits) // as numpy and Python: 1e+16, 1.5e-05
	}
	s := strconv.FormatFloat(f, 'f', -1, bits)
	if !strings.ContainsRune(s, '.') {
		s += ".0"
	}
	return s
}

// timeText is how a timestamp column is written: pandas picks one format
// for the whole column (DatetimeArray._format_native_types): the date alone
// when every value is at midnight, else seconds and as many fraction digits
// as the finest value needs.
type timeText struct {
	datesOnly bool
	frac      int // 0, 3, 6 or 9 digits after the seconds
}

// observe widens the format to fit t.
func (tt *timeText) observe(t time.Time) {
	ns := t.Nanosecond()
	switch {
	case ns%1000 != 0:
		tt.frac = 9
	case ns%1000000 != 0:
		tt.frac = max(tt.frac, 6)
	case ns != 0:
		tt.frac = max(tt.frac, 3)
	}
	if ns != 0 || t.Hour() != 0 || t.Minute() != 0 || t.Second() != 0 {
		tt.datesOnly = false
	}
}

func (tt timeText) format(t time.Time, utc bool) string {
	if tt.datesOnly && !utc {
		return t.Format(time.DateOnly)
	}
	b := t.AppendFormat(nil, time.DateTime)
	if tt.frac > 0 {
		frac := fmt.Sprintf(".%09d", t.Nanosecond())
		b = append(b, frac[:1+tt.frac]...)
	}
	if utc {
		b = append(b, "+00:00"...)
	}
	return string(b)
}

// timeOf reads a timestamp value in its column's unit, UTC.
func timeOf(v parquet.Value, typ parquetType) time.Time {
	if typ.text == textInt96 {
		// INT96: nanoseconds of the day, then the Julian day number.
		i := v.Int96()
		nanos := int64(uint64(i[1])<<32 | uint64(i[0]))
		days := int64(i[2]) - 2440588 // the Julian day of 1970-01-01
		return time.Unix(days*86400, nanos).UTC()
	}
	n := v.Int64()
	switch typ.temporal {
	case "ms":
		return time.UnixMilli(n).UTC()
	case "ns":
		return time.Unix(0, n).UTC()
	}
	return time.UnixMicro(n).UTC()
}

// decimalText writes an unscaled decimal as Python's str(Decimal) writes it
// for usual scales: all digits, the point scale digits from the right.
func decimalText(v parquet.Value, scale int32) string {
	var n big.Int
	switch v.Kind() {
	case parquet.Int32:
		n.SetInt64(int64(v.Int32()))
	case parquet.Int64:
		n.SetInt64(v.Int64())
	default: // big-endian two's complement
		b := v.ByteArray()
		n.SetBytes(b)
		if len(b) > 0 && b[0]&0x80 != 0 {
			n.Sub(&n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
		}
	}
	sign := ""
	if n.Sign() < 0 {
		sign = "-"
		n.Neg(&n)
	}
	digits := n.String()
	if scale <= 0 {
		return sign + digits + strings.Repeat("0", int(-scale))
	}
	if pad := int(scale) + 1 - len(digits); pad > 0 {
		digits = strings.Repeat("0", pad) + digits
	}
	cut := len(digits) - int(scale)
	return sign + digits[:cut] + "." + digits[cut:]
}

// clockText writes a time of day as Python's str(datetime.time) does.
func clockText(v parquet.Value, unit string) string {
	var ns int64
	switch unit {
	case "ms":
		ns = int64(v.Int32()) * int64(time.Millisecond)
	case "ns":
		ns = v.Int64()
	default:
		ns = v.Int64() * int64(time.Microsecond)
	}
	t := time.Unix(0, ns).UTC()
	if us := t.Nanosecond() / 1000; us != 0 {
		return fmt.Sprintf("%s.%06d", t.Format(time.TimeOnly), us)
	}
	return t.Format(time.TimeOnly)
}

// float16Text writes a half-precision float as numpy does: the fewest
// digits that round back to the same half (positional from 1e-4 up to 1e3).
func float16Text(b []byte) string {
	if len(b) != 2 {
		return ""
	}
	h := binary.LittleEndian.Uint16(b)
	x := half(h)
	mag := h & 0x7fff
	if math.IsNaN(x) || math.IsInf(x, 0) || mag == 0 {
		return floatText(x, 64)
	}
	// Text rounds back to x when it lies between the midpoints to x's two
	// neighbours; on a midpoint, ties go to the even one.
	below := half(h&0x8000 | (mag - 1))
	above := half(h&0x8000 | (mag + 1))
	if mag+1 == 0x7c00 { // above the largest half is infinity; round at its gap
		above = x + (x - below)
	}
	lo, hi := (x+below)/2, (x+above)/2
	if lo > hi {
		lo, hi = hi, lo
	}
	inside := func(c float64) bool {
		return (lo < c && c < hi) || ((c == lo || c == hi) && mag%2 == 0)
	}
	// The fewest digits inside; like numpy's Dragon4, a digit string one
	// step up or down from the rounded one counts, the nearest to x wins.
	for digits := 0; digits < 17; digits++ {
		text := strconv.FormatFloat(x, 'e', digits, 64)
		c, _ := strconv.ParseFloat(text, 64)
		exp, _ := strconv.Atoi(text[strings.IndexByte(text, 'e')+1:])
		step := math.Pow(10, float64(exp-digits))
		best, found := 0.0, false
		for _, d := range []float64{c, c + step, c - step} {
			d, _ = strconv.ParseFloat(strconv.FormatFloat(d, 'e', digits, 64), 64)
			if inside(d) && (!found || math.Abs(d-x) < math.Abs(best-x)) {
				best, found = d, true
			}
		}
		if found {
			x = best
			break
		}
	}
	if a := math.Abs(x); a < 1e-4 || a >= 1e3 {
		return strconv.FormatFloat(x, 'e', -1, 64)
	}
	return floatText(x, 64)
}

// halfOf reads a FLOAT16 value: two bytes, little-endian.
func halfOf(b []byte) float64 {
	if len(b) != 2 {
		return math.NaN()
	}
	return half(binary.LittleEndian.Uint16(b))
}

// half reads IEEE 754 half-precision bits.
func half(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * math.Ldexp(frac, -24)
	case 0x1f:
		if frac != 0 {
			return math.NaN()
		}
		return math.Inf(int(sign))
	}
	return sign * math.Ldexp(1024+frac, exp-25)
}

func scanParquet(ctx context.Context, path string, accs []*columnAcc) (int64, error) {
	pf, closeFile, err := openParquet(path, filepath.Base(path))
	if err != nil {
		return 0, err
	}
	defer closeFile()
	pcols, err := parquetColumns(pf)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	for i, a := range accs {
		if a != nil {
			a.dtype, a.temporal, a.ptype = pcols[i].typ.dtype, pcols[i].typ.temporal, pcols[i].typ
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
			if err := eachValue(chunks[pcols[i].leaf], buf, a.addValue); err != nil {
				return 0, fmt.Errorf("%s: column %q: %w", filepath.Base(path), a.name, err)
			}
		}
	}
	return pf.NumRows(), nil
}

// eachValue calls f with every value of a column chunk, page by page. A
// corrupt page can make the Parquet library panic; that becomes an error.
func eachValue(cc parquet.ColumnChunk, buf []parquet.Value, f func(parquet.Value)) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: %v", damaged, r)
		} else if err != nil {
			err = fmt.Errorf("%s: %w", damaged, err)
		}
	}()
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
				f(v)
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
	ptype    parquetType
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
	// Types whose physical values are not what pandas shows.
	switch a.ptype.text {
	case textDecimal, textUint, textFloat16:
		var f float64
		switch a.ptype.text {
		case textDecimal:
			f, _ = strconv.ParseFloat(decimalText(v, a.ptype.scale), 64)
		case textUint:
			if v.Kind() == parquet.Int32 {
				f = float64(v.Uint32())
			} else {
				f = float64(v.Uint64())
			}
		default:
			f = halfOf(v.ByteArray())
		}
		if math.IsNaN(f) {
			a.missing++
			return
		}
		a.addNumber(f, a.count)
		a.addNumKey(f)
		return
	case textTime, textUUID:
		a.addKey(parquetText(v, a.ptype, timeText{}))
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

// Table reads a CSV or Parquet file row by row as text. CSV fields come as
// written; Parquet values come as pandas.DataFrame.to_csv writes them (floats
// in their shortest form, missing values empty, dates ISO 8601), so a CSV
// written from these rows reads back in pandas as the source file does.
// Open one with OpenTable.
type Table struct {
	path    string
	columns []string
	row     []string
	rows    int64 // rows returned so far
	closers []func()

	csv *csv.Reader

	pf     *parquet.File
	pcols  []parquetColumn
	times  []timeText // per column, for timestamps
	groups []parquet.RowGroup
	group  int          // next row group to open
	reader parquet.Rows // the open row group's rows
	buf    []parquet.Row
	bufN   int
	bufI   int
}

// OpenTable opens a CSV (.csv) or Parquet (.parquet, .pq) file for reading
// row by row. Parquet files are checked up front: nested columns and raw
// bytes are refused with the column's name, and timestamp columns are read
// once to choose their text format as pandas would.
func OpenTable(path string) (*Table, error) {
	kind, err := dataFormat(path)
	if err != nil {
		return nil, err
	}
	t := &Table{path: path}
	if kind == formatCSV {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		t.closers = append(t.closers, func() { f.Close() })
		t.csv = newCSVReader(f)
		header, err := t.csv.Read()
		if errors.Is(err, io.EOF) {
			t.Close()
			return nil, fmt.Errorf("%s is empty; want a header line with the column names", path)
		}
		if err != nil {
			t.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if t.columns, err = csvHeader(header, path); err != nil {
			t.Close()
			return nil, err // it names the file
		}
		return t, nil
	}
	pf, closeFile, err := openParquet(path, path)
	if err != nil {
		return nil, err
	}
	t.closers = append(t.closers, closeFile)
	t.pf = pf
	if t.pcols, err = parquetColumns(pf); err != nil {
		t.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	t.groups = pf.RowGroups()
	t.times = make([]timeText, len(t.pcols))
	buf := make([]parquet.Value, 4096)
	for i, c := range t.pcols {
		t.columns = append(t.columns, c.name)
		if c.typ.text != textTimestamp && c.typ.text != textInt96 {
			continue
		}
		tt := timeText{datesOnly: true}
		for _, rg := range t.groups {
			err := eachValue(rg.ColumnChunks()[c.leaf], buf, func(v parquet.Value) {
				if !v.IsNull() {
					tt.observe(timeOf(v, c.typ))
				}
			})
			if err != nil {
				t.Close()
				return nil, fmt.Errorf("%s: column %q: %w", path, c.name, err)
			}
		}
		t.times[i] = tt
	}
	t.row = make([]string, len(t.pcols))
	t.buf = make([]parquet.Row, 256)
	return t, nil
}

// Columns returns the column names, in file order.
func (t *Table) Columns() []string { return t.columns }

// Next returns the next row, one text per column, or io.EOF after the last
// one. The slice is reused by the next call; its strings are not.
func (t *Table) Next() ([]string, error) {
	if t.csv != nil {
		rec, err := t.csv.Read()
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.path, err)
		}
		t.rows++
		return rec, nil
	}
	row, err := t.nextParquet()
	if err != nil {
		return nil, err
	}
	if len(row) != len(t.pf.Schema().Fields()) {
		return nil, fmt.Errorf("%s: row index %d has %d values for %d columns; the file is corrupt", t.path, t.rows, len(row), len(t.pf.Schema().Fields()))
	}
	for i, c := range t.pcols {
		t.row[i] = parquetText(row[c.leaf], c.typ, t.times[i])
	}
	t.rows++
	return t.row, nil
}

// nextParquet returns the next row's values, row groups in file order.
func (t *Table) nextParquet() (row parquet.Row, err error) {
	defer func() {
		if r := recover(); r != nil { // see eachValue
			row, err = nil, fmt.Errorf("%s: row group %d: %s: %v", t.path, t.group, damaged, r)
		}
	}()
	for t.bufI == t.bufN {
		if t.reader == nil {
			if t.group == len(t.groups) {
				return nil, io.EOF
			}
			t.reader = t.groups[t.group].Rows()
			t.group++
		}
		n, err := t.reader.ReadRows(t.buf)
		t.bufN, t.bufI = n, 0
		if errors.Is(err, io.EOF) {
			if n == 0 {
				t.reader.Close()
				t.reader = nil
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: row group %d: %s: %w", t.path, t.group, damaged, err)
		}
	}
	t.bufI++
	return t.buf[t.bufI-1], nil
}

// parquetText writes one Parquet value as DataFrame.to_csv does; tt is the
// format of a timestamp's column.
func parquetText(v parquet.Value, typ parquetType, tt timeText) string {
	if v.IsNull() {
		return ""
	}
	switch typ.text {
	case textBool:
		if v.Boolean() {
			return "True"
		}
		return "False"
	case textInt:
		if v.Kind() == parquet.Int32 {
			return strconv.FormatInt(int64(v.Int32()), 10)
		}
		return strconv.FormatInt(v.Int64(), 10)
	case textUint:
		if v.Kind() == parquet.Int32 {
			return strconv.FormatUint(uint64(v.Uint32()), 10)
		}
		return strconv.FormatUint(v.Uint64(), 10)
	case textFloat32:
		return floatText(float64(v.Float()), 32)
	case textFloat64:
		return floatText(v.Double(), 64)
	case textFloat16:
		return float16Text(v.ByteArray())
	case textDate:
		return time.Unix(int64(v.Int32())*86400, 0).UTC().Format(time.DateOnly)
	case textTimestamp, textInt96:
		return tt.format(timeOf(v, typ), typ.utc)
	case textTime:
		return clockText(v, typ.clock)
	case textDecimal:
		return decimalText(v, typ.scale)
	case textUUID:
		b := v.ByteArray()
		if len(b) == 16 {
			return fmt.Sprintf("%x-%x-%x-%x-%x", b[:4], b[4:6], b[6:8], b[8:10], b[10:])
		}
	}
	return string(v.ByteArray())
}

// Pos says where the last row returned came from, for messages: the line of
// column col in a CSV file, the row's 0-based index (as pandas numbers it)
// in a Parquet file.
func (t *Table) Pos(col int) string {
	if t.csv != nil {
		line, _ := t.csv.FieldPos(col)
		return fmt.Sprintf("line %d", line)
	}
	return fmt.Sprintf("row index %d", t.rows-1)
}

// Close releases the file.
func (t *Table) Close() error {
	if t.reader != nil {
		t.reader.Close()
		t.reader = nil
	}
	for _, c := range t.closers {
		c()
	}
	t.closers = nil
	return nil
}
