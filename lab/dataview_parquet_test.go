package lab

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"trialbook/journal"
	"trialbook/specs"
)

// writeParquetSource writes a few hundred rows of the dtypes a Parquet file
// usually holds, in several row groups: rid numbers the rows, y is a
// regression target missing in a few rows.
const writeParquetSource = `
import sys, datetime as dt, decimal
import numpy as np, pandas as pd
n = 400
rng = np.random.default_rng(11)
y = rng.normal(size=n) * 100
y[[5, 77, 301]] = np.nan
df = pd.DataFrame({
    "rid": np.arange(n),
    "big": rng.integers(-10**15, 10**15, n),
    "x": rng.normal(size=n) * 10.0 ** rng.integers(-9, 18, n),
    "nint": pd.array([None if i % 7 == 0 else i * 3 - 500 for i in range(n)], dtype="Int64"),
    "f32": (rng.normal(size=n) * 10.0 ** rng.integers(-6, 10, n)).astype("float32"),
    "flag": rng.integers(0, 2, n).astype(bool),
    "nflag": pd.array([None if i % 11 == 0 else bool(i % 3) for i in range(n)], dtype="boolean"),
    "text": [["plain", "with, comma", 'with "quotes"', "two\nlines", "ünïcødé ✓ 字", " padded ", "crlf\r\nend", None][i % 8] for i in range(n)],
    "color": pd.Categorical([["red", "green", "blue", None][i % 4] for i in range(n)]),
    "day": [dt.date(1999, 12, 25) + dt.timedelta(days=3 * i) for i in range(n)],
    "when": pd.to_datetime(1_600_000_000_000 + rng.integers(0, 10**10, n), unit="ms"),
    "whenz": pd.date_range("2021-03-04 10:00", periods=n, freq="90min", tz="UTC") + pd.to_timedelta(np.arange(n) % 3 * 250, unit="ms"),
    "gap": [pd.NaT if i % 9 == 0 else pd.Timestamp("2020-01-01") + pd.Timedelta(days=i) for i in range(n)],
    "u64": pd.array([2**63 + 7 * i for i in range(n)], dtype="uint64"),
    "price": [decimal.Decimal(f"{(i - 200) * 1.25:.2f}") for i in range(n)],
    "inf": [np.inf if i % 13 == 0 else -i / 7 for i in range(n)],
    "y": y,
})
df.to_parquet(sys.argv[1], row_group_size=50, index=False)
`

// checkView compares the data view with pd.read_parquet(source), value by
// value after reading each view column as a trial would, and checks the row
// order, the dropped rows and the sealed labels.
const checkView = `
import datetime as dt, decimal, json, pathlib, sys
import numpy as np, pandas as pd
src = pd.read_parquet(sys.argv[1])
d = pathlib.Path(sys.argv[2])
train = pd.read_csv(d / "data" / "train.csv")
hold = pd.read_csv(d / "data" / "holdout.csv")
labels = json.loads((d / ".trialbook" / "labels.json").read_text())
view = json.loads((d / "data" / "view.json").read_text())
bad = []
if list(train.columns) != list(src.columns):
    bad.append(f"train.csv columns {list(train.columns)}, source {list(src.columns)}")
if list(hold.columns) != [c for c in src.columns if c != "y"]:
    bad.append(f"holdout.csv columns {list(hold.columns)}")
kept = src[src["y"].notna()]
for name, part in (("train", train), ("holdout", hold)):
    if not part["rid"].is_monotonic_increasing:
        bad.append(f"{name}.csv rows are not in the file's order")
if sorted(list(train["rid"]) + list(hold["rid"])) != list(kept["rid"]):
    bad.append("rows lost or repeated")
if view["dropped"] != int(src["y"].isna().sum()):
    bad.append(f"dropped {view['dropped']}, source has {int(src['y'].isna().sum())} rows without y")
by = src.set_index("rid", drop=False)

def norm(v):
    if isinstance(v, str):
        return v or None  # CSV cannot tell "" from missing; nor can pandas' to_csv
    if v is None or pd.isna(v):
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, pd.Timestamp):
        return v.as_unit("ns").value
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    return float(v)

def as_read(s, g):
    """The view column g as the source column s's type."""
    if s.dtype.kind == "M":
        return pd.to_datetime(g, utc=getattr(s.dtype, "tz", None) is not None)
    if s.dtype in ("float32", "float16"):
        return g.astype(s.dtype)
    return g

for name, part in (("train", train), ("holdout", hold)):
    ref = by.loc[part["rid"]].reset_index(drop=True)
    for c in part.columns:
        want = [norm(v) for v in ref[c]]
        got = [norm(v) for v in as_read(ref[c], part[c])]
        for i, (a, b) in enumerate(zip(want, got)):
            if a != b:
                bad.append(f"{name}.csv row {i} (rid {part['rid'][i]}) {c}: {b!r}, read_parquet {a!r}")
                break
for name, part in (("train", train), ("holdout", hold)):
    want = list(by.loc[part["rid"], "y"])
    got = [float(v) for v in labels[name]]
    if got != want:
        bad.append(f"sealed {name} labels differ from the source's y")
if bad:
    sys.exit("\n".join(bad))
print(f"{len(train)} train and {len(hold)} holdout rows equal pd.read_parquet")
`

func parquetProblem(dataDir string) *specs.Problem {
	return &specs.Problem{
		Name: "pq", File: filepath.Join(dataDir, "problem.jsonnet"), Task: specs.Regression,
		Data: filepath.Join(dataDir, "source.parquet"), Target: "y", Metric: specs.Metric{Name: "rmse"},
		Validation: specs.Validation{Kind: "kfold", Folds: 4},
		Holdout:    0.2, Seed: 5, Features: specs.Features{IDs: []string{"rid"}},
	}
}

// TestPrepareDataParquet builds the data view from a Parquet file and checks
// with pandas that the view holds the values pd.read_parquet gives.
func TestPrepareDataParquet(t *testing.T) {
	if testing.Short() {
		t.Skip("compares with pandas in the .venv")
	}
	dir := t.TempDir()
	p := parquetProblem(dir)
	runPython(t, writeParquetSource, p.Data)
	d, err := PrepareData(p, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.View.Rows+d.View.HoldoutRows, 397; got != want {
		t.Errorf("%d rows with a target, want %d", got, want)
	}
	b, err := os.ReadFile(p.Data)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	if got, want := d.View.SourceSHA256, hex.EncodeToString(sum[:]); got != want {
		t.Errorf("view sha256 %s, want the Parquet file's %s", got, want)
	}
	t.Log(strings.TrimSpace(string(runPython(t, checkView, p.Data, dir))))

	// The same file splits the same way again, in a new folder.
	again := t.TempDir()
	d2, err := PrepareData(p, again)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{viewTrainFile, viewHoldoutFile, viewFoldsFile} {
		a, _ := os.ReadFile(filepath.Join(dir, f))
		b, _ := os.ReadFile(filepath.Join(again, f))
		if string(a) != string(b) {
			t.Errorf("%s differs between two views of the same file", f)
		}
	}
	if d2.View.HoldoutSeed != d.View.HoldoutSeed {
		t.Error("holdout seeds differ")
	}

	// time_series on a timestamp column: the holdout is the latest rows,
	// which needs the column's text to sort as its times do.
	ts := t.TempDir()
	p.Validation = specs.Validation{Kind: "time_series", Folds: 3, Time: "when"}
	if _, err := PrepareData(p, ts); err != nil {
		t.Fatal(err)
	}
	latest := func(file string) (lo, hi string) {
		f, err := os.Open(filepath.Join(ts, file))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		recs, err := csv.NewReader(f).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		col := slices.Index(recs[0], "when")
		for _, r := range recs[1:] {
			if lo == "" || r[col] < lo {
				lo = r[col]
			}
			hi = max(hi, r[col])
		}
		return lo, hi
	}
	_, trainLast := latest(viewTrainFile)
	holdFirst, _ := latest(viewHoldoutFile)
	if trainLast >= holdFirst {
		t.Errorf("time_series: the training rows reach %s, after the holdout's first %s", trainLast, holdFirst)
	}
}

// TestPrepareDataParquetErrors checks what a user sees for a Parquet file the
// view cannot use, and that the experiment folder is left untouched.
func TestPrepareDataParquetErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("writes Parquet files with pandas in the .venv")
	}
	dataDir := t.TempDir()
	nested, noTarget, good := filepath.Join(dataDir, "nested.parquet"), filepath.Join(dataDir, "notarget.parquet"), filepath.Join(dataDir, "source.parquet")
	runPython(t, `
import sys, pandas as pd
n = 30
pd.DataFrame({"rid": range(n), "tags": [["a", "b"]] * n, "y": [1.0] * n}).to_parquet(sys.argv[1])
pd.DataFrame({"rid": range(n), "a": [0.5] * n, "label": [1.0] * n}).to_parquet(sys.argv[2])
pd.DataFrame({"rid": range(n), "word": ["plain"] * n, "y": [2.0] * n}).to_parquet(sys.argv[3])
`, nested, noTarget, good)
	corrupt := filepath.Join(dataDir, "corrupt.parquet")
	if err := os.WriteFile(corrupt, []byte("PAR1 this is not really a Parquet file PAR1"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		edit   func(p *specs.Problem)
		want   []string
		expDir string
	}{
		{"corrupt", func(p *specs.Problem) { p.Data = corrupt }, []string{corrupt, "is not a readable Parquet file"}, ""},
		{"missing target", func(p *specs.Problem) { p.Data = noTarget }, []string{`target "y" is not a column of ` + noTarget, "columns: rid, a, label"}, ""},
		{"nested", func(p *specs.Problem) { p.Data = nested }, []string{nested, `column "tags" is nested`, "drop it"}, ""},
		{"text target", func(p *specs.Problem) { p.Target = "word" }, []string{"row index 0", `target word is "plain", not a number`}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p := parquetProblem(dataDir)
			c.edit(p)
			_, err := PrepareData(p, dir)
			if err == nil {
				t.Fatal("PrepareData succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				t.Errorf("the experiment folder has %s after the error", e.Name())
			}
		})
	}
}

// TestRunParquetDiabetes is `trialbook init` then `trialbook run` on a
// Parquet copy of scikit-learn's diabetes data, wired as cmd/trialbook
// wires them: the built-in agent, three trials, real kernels.
func TestRunParquetDiabetes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kernels")
	}
	spec := testSpec(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "diabetes.parquet")
	runPython(t, `
import sys
from sklearn.datasets import load_diabetes
load_diabetes(as_frame=True, scaled=False).frame.to_parquet(sys.argv[1])
`, data)
	exp := filepath.Join(dir, "diabetes")
	file, _, err := specs.Init(exp, specs.InitOptions{Data: data, Target: "target"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p, ag := loadBuiltin(ctx, t, file, exp)
	prof, err := specs.ProfileData(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	md, err := specs.RenderAgentsMD(p, prof)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := Run(ctx, Options{
		Dir: exp, Problem: p, Agent: ag, AgentName: "builtin", Spec: spec,
		Trials: 3, AgentsMD: md, Profile: prof.Markdown(), Log: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := snap.Status, journal.StatusFinished; got != want {
		t.Errorf("status %s, want %s", got, want)
	}
	if got, want := len(snap.Leaderboard), 3; got != want {
		t.Fatalf("%d trials, want %d", got, want)
	}
	for _, r := range snap.Leaderboard {
		if r.Status != "kept" && r.Status != "discarded" || r.Score == nil {
			t.Errorf("trial %d (%s) is %s (%s) with score %v, want it scored", r.Trial, r.Title, r.Status, r.Reason, r.Score)
		}
	}
	if snap.Best == nil {
		t.Error("no best trial")
	}
	d, err := LoadData(exp)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := d.View.Rows+d.View.HoldoutRows, 442; got != want {
		t.Errorf("view has %d rows, want %d", got, want)
	}
}
