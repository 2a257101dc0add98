package specs

import (
	"context"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestFloatText(t *testing.T) {
	tenth, fifth := 0.1, 0.2 // not constants: Go adds constants exactly
	cases := []struct {
		f    float64
		bits int
		want string
	}{
		{0, 64, "0.0"},
		{-0.0 * -1, 64, "0.0"},
		{3, 64, "3.0"},
		{tenth + fifth, 64, "0.30000000000000004"},
		{1e-4, 64, "0.0001"},
		{1e-5, 64, "1e-05"},
		{1.5e-7, 64, "1.5e-07"},
		{1e15, 64, "1000000000000000.0"},
		{1e16, 64, "1e+16"},
		{123456789012345678, 64, "1.2345678901234568e+17"},
		{5e-324, 64, "5e-324"},
		{float64(float32(0.1)), 32, "0.1"},
		{float64(float32(999999)), 32, "999999.0"},
		{float64(float32(1e6)), 32, "1e+06"},
		{float64(float32(123456789)), 32, "1.2345679e+08"},
		{float64(float32(1e-4)), 32, "1e-04"}, // float32(1e-4) is below 1e-4
	}
	for _, c := range cases {
		if got := floatText(c.f, c.bits); got != c.want {
			t.Errorf("floatText(%v, %d) = %q, want %q", c.f, c.bits, got, c.want)
		}
	}
}

func TestTimeTextOneFormatPerColumn(t *testing.T) {
	day := time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		times []time.Time
		utc   bool
		want  []string
	}{
		{[]time.Time{day, day.AddDate(0, 0, 1)}, false, []string{"2024-02-29", "2024-03-01"}},
		{[]time.Time{day, day.Add(90 * time.Minute)}, false, []string{"2024-02-29 00:00:00", "2024-02-29 01:30:00"}},
		{[]time.Time{day, day.Add(250 * time.Millisecond)}, false, []string{"2024-02-29 00:00:00.000", "2024-02-29 00:00:00.250"}},
		{[]time.Time{day, day.Add(7 * time.Microsecond)}, false, []string{"2024-02-29 00:00:00.000000", "2024-02-29 00:00:00.000007"}},
		{[]time.Time{day.Add(1), day}, false, []string{"2024-02-29 00:00:00.000000001", "2024-02-29 00:00:00.000000000"}},
		// pandas writes time zones value by value, which pd.to_datetime
		// then cannot read back; one format per column reads back.
		{[]time.Time{day, day.Add(250 * time.Millisecond)}, true, []string{"2024-02-29 00:00:00.000+00:00", "2024-02-29 00:00:00.250+00:00"}},
	}
	for _, c := range cases {
		tt := timeText{datesOnly: true}
		for _, x := range c.times {
			tt.observe(x)
		}
		var got []string
		for _, x := range c.times {
			got = append(got, tt.format(x, c.utc))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%v (utc %v): got %q, want %q", c.times, c.utc, got, c.want)
		}
	}
}

func readAll(t *testing.T, path string) ([]string, [][]string) {
	t.Helper()
	tb, err := OpenTable(path)
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	var rows [][]string
	for {
		r, err := tb.Next()
		if errors.Is(err, io.EOF) {
			return tb.Columns(), rows
		}
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, slices.Clone(r))
	}
}

func TestTableCSV(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.csv")
	text := "\ufeffid,,note\n1,2.50,\"a, \"\"b\"\"\nc\"\n2,NA,plain\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cols, rows := readAll(t, path)
	if want := []string{"id", "Unnamed: 1", "note"}; !slices.Equal(cols, want) {
		t.Errorf("columns %q, want %q", cols, want)
	}
	// CSV fields come as written: the view keeps the file's own text.
	want := [][]string{{"1", "2.50", "a, \"b\"\nc"}, {"2", "NA", "plain"}}
	if !slices.EqualFunc(rows, want, slices.Equal) {
		t.Errorf("rows %q, want %q", rows, want)
	}

	tb, err := OpenTable(path)
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	tb.Next()
	tb.Next()
	if got, want := tb.Pos(2), "line 4"; got != want {
		t.Errorf("Pos after the second row: %q, want %q", got, want)
	}
}

func TestTableErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cases := []struct {
		path string
		want string
	}{
		{write("empty.csv", ""), "empty.csv is empty"},
		{write("twice.csv", "a,b,a\n1,2,3\n"), `column "a" appears twice`},
		{write("notparquet.parquet", "a,b\n1,2\n"), "notparquet.parquet is not a readable Parquet file"},
		{write("data.txt", "a\n"), "neither CSV"},
	}
	for _, c := range cases {
		_, err := OpenTable(c.path)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("OpenTable(%s): %v, want an error saying %q", filepath.Base(c.path), err, c.want)
		} else if n := strings.Count(err.Error(), filepath.Base(c.path)); n != 1 {
			t.Errorf("OpenTable(%s): %v names the file %d times, want once", filepath.Base(c.path), err, n)
		}
	}
	short := write("short.csv", "a,b\n1,2\n3\n")
	tb, err := OpenTable(short)
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	tb.Next()
	if _, err := tb.Next(); err == nil || !strings.Contains(err.Error(), "short.csv") || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("a row with too few fields: %v", err)
	}
}

// python runs a script with the .venv interpreter; args follow the script.
func python(t *testing.T, script string, args ...string) string {
	t.Helper()
	cmd := exec.Command(repoPython(t), append([]string{"-c", script}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	return string(out)
}

// writeTypesParquet writes a table of the dtypes a data scientist's Parquet
// file usually holds, in several row groups: with a named index (rid), and
// some of its rows with an unnamed index in legacy INT96 timestamps.
const writeTypesParquet = `
import sys, datetime as dt, decimal
import numpy as np, pandas as pd, pyarrow as pa, pyarrow.parquet as pq
n = 300
rng = np.random.default_rng(7)
df = pd.DataFrame({
    "zeta_int": rng.integers(-10**12, 10**12, n),
    "a_float": rng.normal(size=n) * 10.0 ** rng.integers(-8, 20, n),
    "nint": pd.array([None if i % 7 == 0 else i * 3 - 400 for i in range(n)], dtype="Int64"),
    "f32": (rng.normal(size=n) * 10.0 ** rng.integers(-6, 12, n)).astype("float32"),
    "f16": (rng.normal(size=n) * 50).astype("float16"),
    "flag": rng.integers(0, 2, n).astype(bool),
    "nflag": pd.array([None if i % 11 == 0 else bool(i % 2) for i in range(n)], dtype="boolean"),
    "text": [["plain", "with, comma", 'with "quote"', "line\nbreak", "ünïcødé ✓ 字", " lead space", "crlf\r\nx", "", None][i % 9] for i in range(n)],
    "cat": pd.Categorical([["red", "green", "blue"][i % 3] for i in range(n)]),
    "catint": pd.Categorical([i % 4 for i in range(n)]),
    "day": [dt.date(1999, 12, 30) + dt.timedelta(days=i) for i in range(n)],
    "ts": pd.date_range("2021-03-04 05:06:07", periods=n, freq="37min"),
    "ts_ms": pd.to_datetime(1_600_000_000_000 + rng.integers(0, 10**9, n), unit="ms"),
    "ts_ns": pd.to_datetime(1_600_000_000_000_000_000 + rng.integers(0, 10**15, n), unit="ns"),
    "ts_nat": [pd.NaT if i % 4 == 0 else pd.Timestamp("1850-01-01") + pd.Timedelta(days=40 * i) for i in range(n)],
    "tsu": pd.date_range("2021-03-04 10:00", periods=n, freq="D", tz="UTC"),
    "u64": pd.array([2**63 + i for i in range(n)], dtype="uint64"),
    "u8": (np.arange(n) % 256).astype("uint8"),
    "i8": pd.array([(i % 200) - 100 for i in range(n)], dtype="int8"),
    "dec": [decimal.Decimal(f"{(i - 150) * 1.37:.2f}") if i % 6 else None for i in range(n)],
    "clock": [dt.time(i % 24, i % 60, (i * 7) % 60, (i * 1001) % 1000000 if i % 2 else 0) for i in range(n)],
    "fnan": [np.nan if i % 5 == 0 else (np.inf if i % 5 == 1 else i / 3) for i in range(n)],
    "allnull": [None] * n,
}, index=pd.Index(np.arange(n) * 3 + 100, name="rid"))
df.to_parquet(sys.argv[1], row_group_size=64)
# Some rows, with their row numbers as an unnamed index, as a filter leaves them.
part = df.reset_index(drop=True).iloc[[i for i in range(n) if i % 5]]
pq.write_table(pa.Table.from_pandas(part), sys.argv[2], use_deprecated_int96_timestamps=True, row_group_size=100)
`

// compareWithToCSV parses a CSV trialbook wrote and the CSV pandas writes
// from pd.read_parquet(source) with Python's csv module and compares them
// field by field. A named index is a column, where the file stored it.
const compareWithToCSV = `
import csv, io, sys
import pandas as pd
src, got = sys.argv[1], sys.argv[2]
ours = list(csv.reader(open(got, newline="", encoding="utf-8")))
df = pd.read_parquet(src)
if df.index.name is not None:
    df[df.index.name] = df.index
theirs = list(csv.reader(io.StringIO(df.to_csv(index=False))))
if ours[0] != theirs[0]:
    sys.exit(f"header {ours[0]}, pandas {theirs[0]}")
if len(ours) != len(theirs):
    sys.exit(f"{len(ours)} lines, pandas {len(theirs)}")
bad = []
for i, (a, b) in enumerate(zip(ours[1:], theirs[1:])):
    for col, x, y in zip(theirs[0], a, b):
        if x != y:
            bad.append(f"row {i} {col}: {x!r}, pandas {y!r}")
if bad:
    sys.exit("\n".join(bad[:20]))
print(len(ours) - 1, "rows agree")
`

// TestTableParquetMatchesPandas reads Parquet files pandas wrote and checks
// that every field is the text pandas' own to_csv gives.
func TestTableParquetMatchesPandas(t *testing.T) {
	dir := t.TempDir()
	plain, int96 := filepath.Join(dir, "types.parquet"), filepath.Join(dir, "int96.parquet")
	python(t, writeTypesParquet, plain, int96)
	for _, src := range []string{plain, int96} {
		t.Run(filepath.Base(src), func(t *testing.T) {
			cols, rows := readAll(t, src)
			named := src == plain
			if got := slices.Contains(cols, "rid"); got != named {
				t.Errorf("columns %q: rid (a named index) there %v, want %v", cols, got, named)
			}
			if slices.ContainsFunc(cols, func(c string) bool { return strings.HasPrefix(c, "__index_level_") }) {
				t.Errorf("columns %q include an unnamed pandas index", cols)
			}
			out := filepath.Join(dir, filepath.Base(src)+".csv")
			f, err := os.Create(out)
			if err != nil {
				t.Fatal(err)
			}
			w := csv.NewWriter(f)
			w.Write(cols)
			w.WriteAll(rows)
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			t.Log(strings.TrimSpace(python(t, compareWithToCSV, src, out)))
		})
	}
}

// TestProfileParquetLogicalTypes checks the profile of the columns whose
// stored integers or bytes are not the values pandas shows: decimals,
// unsigned integers, half floats, times of day.
func TestProfileParquetLogicalTypes(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "types.parquet")
	python(t, writeTypesParquet, src, filepath.Join(dir, "int96.parquet"))
	out := python(t, `
import json, sys
import pandas as pd
df = pd.read_parquet(sys.argv[1])
print(json.dumps({c: [float(pd.to_numeric(df[c]).mean()), float(pd.to_numeric(df[c]).min()), int(df[c].isna().sum())] for c in ("dec", "u64", "u8", "f16")} | {"clock": [df["clock"].nunique()]}))
`, src)
	var want map[string][]float64
	if err := json.Unmarshal([]byte(out), &want); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	prof, err := ProfileFile(context.Background(), src, ProfileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range prof.Columns {
		w, ok := want[c.Name]
		switch {
		case !ok:
		case c.Name == "clock":
			if c.Mean != nil || c.Distinct != int(w[0]) {
				t.Errorf("clock: %d distinct (numeric %v), pandas %v distinct times", c.Distinct, c.Mean != nil, w[0])
			}
		case c.Mean == nil:
			t.Errorf("%s (%s) has no numeric summary", c.Name, c.Dtype)
		case !closeTo(*c.Mean, w[0], 1e-6) || !closeTo(*c.Min, w[1], 1e-6) || c.Missing != int64(w[2]):
			t.Errorf("%s: mean %v min %v missing %d; pandas %v %v %v", c.Name, *c.Mean, *c.Min, c.Missing, w[0], w[1], w[2])
		}
	}
}

func closeTo(a, b, rel float64) bool {
	return math.Abs(a-b) <= rel*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// TestFloat16TextMatchesNumpy writes every half-precision value.
func TestFloat16TextMatchesNumpy(t *testing.T) {
	out := python(t, `
import numpy as np
v = np.arange(65536, dtype=np.uint16).view(np.float16)
print("\n".join("" if np.isnan(x) else s for x, s in zip(v, v.astype(str))))`)
	want := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(want) != 65536 {
		t.Fatalf("numpy gave %d values", len(want))
	}
	bad := 0
	for h := range 65536 {
		var b [2]byte
		binary.LittleEndian.PutUint16(b[:], uint16(h))
		if got := float16Text(b[:]); got != want[h] && bad < 10 {
			t.Errorf("half %#04x: %q, numpy %q", h, got, want[h])
			bad++
		}
	}
}

// TestTableParquetRefuses checks the errors a user sees for a Parquet file
// that cannot become a flat CSV view: nested columns, raw bytes, a file cut
// short and a file whose data pages are damaged.
func TestTableParquetRefuses(t *testing.T) {
	dir := t.TempDir()
	nested, raw, good := filepath.Join(dir, "nested.parquet"), filepath.Join(dir, "raw.parquet"), filepath.Join(dir, "good.parquet")
	twice := filepath.Join(dir, "twice.parquet")
	python(t, `
import sys, pandas as pd
pd.DataFrame({"x": [1, 2], "tags": [["a"], ["b", "c"]]}).to_parquet(sys.argv[1])
pd.DataFrame({"x": [1, 2], "blob": [b"\x00\xff", b"ok"]}).to_parquet(sys.argv[2])
pd.DataFrame({"x": range(5000), "s": [f"row {i}" for i in range(5000)]}).to_parquet(sys.argv[3])
import pyarrow as pa, pyarrow.parquet as pq
pq.write_table(pa.table([[1, 2], [3, 4]], names=["a", "a"]), sys.argv[4])
`, nested, raw, good, twice)

	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(dir, "cut.parquet")
	if err := os.WriteFile(cut, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	// Garble everything between the magic number and the footer: the
	// footer still opens, the pages cannot be read.
	footer := int(binary.LittleEndian.Uint32(b[len(b)-8:]))
	garbled := slices.Clone(b)
	for i := 4; i < len(b)-8-footer; i++ {
		garbled[i] = byte(i*7 + 13)
	}
	damaged := filepath.Join(dir, "damaged.parquet")
	if err := os.WriteFile(damaged, garbled, 0o644); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		path string
		want []string
	}{
		{nested, []string{"nested.parquet", `column "tags" is nested`, "drop it"}},
		{raw, []string{"raw.parquet", `column "blob" holds raw bytes`, "decode"}},
		{twice, []string{"twice.parquet", `column "a" appears twice`}},
		{cut, []string{"cut.parquet is not a readable Parquet file"}},
		{damaged, []string{"damaged.parquet", "the file is damaged"}},
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.path), func(t *testing.T) {
			err := readErr(c.path)
			if err == nil {
				t.Fatal("read without an error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

// readErr opens and reads a whole table, returning the first error.
func readErr(path string) error {
	tb, err := OpenTable(path)
	if err != nil {
		return err
	}
	defer tb.Close()
	for {
		if _, err := tb.Next(); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// OpenTable reads a Parquet file's rows as the text pandas' to_csv writes.
func ExampleOpenTable() {
	t, err := OpenTable("testdata/data/types.parquet")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer t.Close()
	fmt.Println(strings.Join(t.Columns(), ","))
	for range 2 {
		row, err := t.Next()
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(strings.Join(row, ","))
	}
	// Output:
	// when,day,cat,i32,f32,nint,y
	// 2024-01-01 06:30:00,2024-02-29,a,0,0.0,1,1.5
	// 2024-01-02 06:30:00,2024-02-29,b,1,0.5,,2.0
}
