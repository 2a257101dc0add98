package lab

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"trialbook/journal"
	"trialbook/kernel"
	"trialbook/specs"
)

// PredictModel is what trialbook predict applies: the ensemble when it is
// current and beat the best trial beyond noise, else the best trial.
type PredictModel struct {
	Ensemble bool
	Members  []TrialWeight // one member, weight 1, for a single trial
	Reason   string        // why this model
}

// Kind is "ensemble" or "trial".
func (p PredictModel) Kind() string {
	if p.Ensemble {
		return "ensemble"
	}
	return "trial"
}

// Describe says which model, in a sentence.
func (p PredictModel) Describe() string {
	if len(p.Members) == 0 {
		return "no model"
	}
	if !p.Ensemble {
		return fmt.Sprintf("the best trial, %d (%s): %s", p.Members[0].Trial, path.Join(ArtifactsRel(p.Members[0].Trial), ModelFile), p.Reason)
	}
	parts := make([]string, len(p.Members))
	for i, m := range p.Members {
		parts[i] = fmt.Sprintf("trial %d × %.3g", m.Trial, m.Weight)
	}
	return fmt.Sprintf("the ensemble of %s: %s", strings.Join(parts, ", "), strings.TrimPrefix(p.Reason, "used: "))
}

// ChoosePredictModel picks the model to predict with from the journal, and
// checks that its model.pkl files exist.
func ChoosePredictModel(dir string, events []journal.Event, snap *journal.Snapshot) (PredictModel, error) {
	if snap.Best == nil {
		return PredictModel{}, errors.New("no trial has been kept yet: there is no model to predict with")
	}
	var pm PredictModel
	if w, ev, ok := CurrentEnsemble(events, snap); ok {
		pm = PredictModel{Ensemble: true, Reason: ev.Reason}
		for t, v := range w {
			pm.Members = append(pm.Members, TrialWeight{Trial: t, Weight: v})
		}
		slices.SortFunc(pm.Members, func(a, b TrialWeight) int {
			if a.Weight != b.Weight {
				if a.Weight > b.Weight {
					return -1
				}
				return 1
			}
			return a.Trial - b.Trial
		})
		var missing []string
		for _, m := range pm.Members {
			if _, err := os.Stat(Folder{dir}.Artifact(m.Trial, ModelFile)); err != nil {
				missing = append(missing, fmt.Sprintf("trial %d", m.Trial))
			}
		}
		if len(missing) == 0 {
			return pm, nil
		}
		// Fall back to the best trial, and say why.
		pm = PredictModel{Reason: fmt.Sprintf("the ensemble beats it, but %s saved no model.pkl", strings.Join(missing, ", "))}
	} else {
		pm.Reason = "no ensemble beats it by more than noise"
		if ev == nil {
			pm.Reason = "no ensemble is recorded in the journal (trialbook report builds one)"
		}
	}
	b := snap.Best.Trial
	if _, err := os.Stat(Folder{dir}.Artifact(b, ModelFile)); err != nil {
		return pm, fmt.Errorf("the best trial %d saved no model (%s): its last cell must call hand_back(oof, holdout, model=...) with a fitted model", b, path.Join(ArtifactsRel(b), ModelFile))
	}
	pm.Members = []TrialWeight{{Trial: b, Weight: 1}}
	return pm, nil
}

// PredictOptions say what to predict.
type PredictOptions struct {
	Dir    string // the experiment folder
	Input  string // CSV or Parquet with the data view's columns, target removed
	Output string // the file to write: Parquet for .parquet or .pq, else CSV
	// IDs are the problem's id columns, copied to the output beside the
	// predictions.
	IDs  []string
	Spec *kernel.Spec
	// Problem, when set, confines the kernel as its trials are: sandboxed
	// where they are (docs/sandbox.md), since the models run code an agent
	// wrote.
	Problem *specs.Problem
	Log     zerolog.Logger
}

// PredictResult says what Predict did.
type PredictResult struct {
	Model PredictModel
	Rows  int
}

// ColumnsError is an input file whose columns are not the data view's.
type ColumnsError struct {
	File    string
	Missing []string
	Extra   []string
	Target  string // set when the target is among Extra
}

func (e *ColumnsError) Error() string {
	var parts []string
	if len(e.Missing) > 0 {
		parts = append(parts, fmt.Sprintf("missing column(s) %s", strings.Join(quoteAll(e.Missing), ", ")))
	}
	if len(e.Extra) > 0 {
		parts = append(parts, fmt.Sprintf("unexpected column(s) %s", strings.Join(quoteAll(e.Extra), ", ")))
	}
	msg := fmt.Sprintf("%s: %s; want the columns the model was trained on (those of data/holdout.csv)", e.File, strings.Join(parts, " and "))
	if e.Target != "" {
		msg += fmt.Sprintf("; %q is the target: remove it", e.Target)
	}
	return msg
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// CheckColumns compares the columns of input (CSV or Parquet) with the data
// view's (every column of the training data but the target) and counts its
// rows.
func CheckColumns(dir, input string) (rows int, err error) { return readInput(dir, input, nil) }

// readInput is CheckColumns, also writing input's header and rows to w as
// CSV when w is not nil.
func readInput(dir, input string, w *csv.Writer) (rows int, err error) {
	d, err := LoadData(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("%s has no data view (data/view.json): run the experiment first", dir)
		}
		return 0, err
	}
	want, err := csvHeader(Folder{dir}.Path(viewHoldoutFile))
	if err != nil {
		return 0, err
	}
	t, err := specs.OpenTable(input)
	if err != nil {
		return 0, err
	}
	defer t.Close()
	got := t.Columns()
	ce := &ColumnsError{File: input}
	for _, c := range want {
		if !slices.Contains(got, c) {
			ce.Missing = append(ce.Missing, c)
		}
	}
	for _, c := range got {
		if !slices.Contains(want, c) {
			ce.Extra = append(ce.Extra, c)
			if c == d.View.Target {
				ce.Target = c
			}
		}
	}
	if len(ce.Missing)+len(ce.Extra) > 0 {
		return 0, ce
	}
	write := func([]string) error { return nil }
	if w != nil {
		write = w.Write
	}
	if err := write(got); err != nil {
		return 0, err
	}
	for {
		row, err := t.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return rows, fmt.Errorf("%s: %w", input, err)
		}
		if err := write(row); err != nil {
			return rows, err
		}
		rows++
	}
	if rows == 0 {
		return 0, fmt.Errorf("%s has a header but no rows to predict", input)
	}
	return rows, nil
}

// inputAsCSV checks input as CheckColumns does and returns a CSV path with
// its rows: input itself when it is a CSV file, else a temporary copy
// (removed by done) written in the same pass from the rows as the data view
// writes them, so the model sees new Parquet rows exactly as it saw its
// training rows.
func inputAsCSV(dir, input string) (path string, rows int, done func(), err error) {
	if strings.EqualFold(filepath.Ext(input), ".csv") {
		rows, err := CheckColumns(dir, input)
		return input, rows, func() {}, err
	}
	tmp, err := os.MkdirTemp("", "trialbook-predict-")
	if err != nil {
		return "", 0, nil, err
	}
	done = func() { _ = os.RemoveAll(tmp) }
	path = filepath.Join(tmp, "input.csv")
	f, err := os.Create(path)
	if err != nil {
		done()
		return "", 0, nil, err
	}
	w := csv.NewWriter(f)
	rows, err = readInput(dir, input, w)
	if err == nil {
		w.Flush()
		err = w.Error()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		done()
		return "", 0, nil, err
	}
	return path, rows, done, nil
}

func csvHeader(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h, err := csv.NewReader(f).Read()
	if err != nil {
		return nil, fmt.Errorf("%s: reading the header: %w", path, err)
	}
	return h, nil
}

// Predict applies the best model or the ensemble to new rows, in a kernel
// started in the experiment folder. It loads the trials' model.pkl files and
// refits nothing.
func Predict(ctx context.Context, opts PredictOptions) (*PredictResult, error) {
	dir := opts.Dir
	csvIn, rows, removeCSV, err := inputAsCSV(dir, opts.Input)
	if err != nil {
		return nil, err
	}
	defer removeCSV()
	events, err := journal.ReadFile(Folder{dir}.Journal())
	if err != nil {
		return nil, err
	}
	snap := journal.Fold(events)
	pm, err := ChoosePredictModel(dir, events, &snap)
	if err != nil {
		return nil, err
	}
	in, err := filepath.Abs(csvIn)
	if err != nil {
		return nil, err
	}
	out, err := filepath.Abs(opts.Output)
	if err != nil {
		return nil, err
	}
	var members []map[string]any
	for _, m := range pm.Members {
		members = append(members, map[string]any{"trial": m.Trial, "weight": m.Weight,
			"model": path.Join(ArtifactsRel(m.Trial), ModelFile)})
	}
	if opts.Spec == nil {
		return nil, errors.New("no kernelspec to predict with")
	}
	// A sandboxed kernel writes only into a private folder of its own;
	// the predictions are moved to out once it is done.
	private, err := os.MkdirTemp("", "trialbook-predict-out-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(private)
	ko, sandboxed, err := harnessKernelOptions(ctx, opts.Problem, dir,
		[]string{filepath.Join(dir, filepath.Dir(viewMetaFile)), filepath.Join(dir, "trials"), in}, []string{private})
	if err != nil {
		return nil, err
	}
	ko.Logger = opts.Log
	writeTo := out
	if sandboxed {
		writeTo = filepath.Join(private, "predictions"+filepath.Ext(out))
	}
	params, err := json.Marshal(map[string]any{"input": in, "output": writeTo, "ids": opts.IDs, "members": members})
	if err != nil {
		return nil, err
	}
	k, err := kernel.Start(ctx, opts.Spec, ko)
	if err != nil {
		return nil, fmt.Errorf("starting a kernel: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = k.Shutdown(sctx)
	}()
	var text strings.Builder
	code := "import json\nPARAMS = " + pyJSON(string(params)) + "\n" + predictPy
	reply, err := k.Execute(ctx, code, kernel.ExecuteOptions{OnMessage: func(m *kernel.Message) {
		if s, ok := m.Content.(*kernel.Stream); ok {
			text.WriteString(s.Text)
		}
	}})
	if err != nil {
		return nil, fmt.Errorf("predicting: %w", err)
	}
	var xe *kernel.ExecError
	if errors.As(reply.Err(), &xe) {
		return nil, fmt.Errorf("predicting with %s: %s: %s", pm.Describe(), xe.Ename, xe.Evalue)
	}
	if reply.Err() != nil {
		return nil, fmt.Errorf("predicting: %w", reply.Err())
	}
	var done struct {
		Rows int `json:"rows"`
	}
	for _, line := range strings.Split(text.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, "trialbook-predict "); ok {
			_ = json.Unmarshal([]byte(rest), &done)
		}
	}
	if done.Rows != rows {
		return nil, fmt.Errorf("predicting: wrote %d rows for %d input rows (%s)", done.Rows, rows, strings.TrimSpace(text.String()))
	}
	if writeTo != out {
		if err := moveFile(writeTo, out); err != nil {
			return nil, fmt.Errorf("predicting: %w", err)
		}
	}
	return &PredictResult{Model: pm, Rows: done.Rows}, nil
}

// pyJSON is a Python expression for the JSON document s: a string literal
// (JSON's escapes are Python's) passed to json.loads.
func pyJSON(s string) string {
	b, _ := json.Marshal(s)
	return "json.loads(" + string(b) + ")"
}

// predictPy reads PARAMS (a dict) and writes the predictions. The new rows
// are read as the setup cell reads the holdout: pandas may guess a column's
// type differently in a smaller file, so each column is aligned to the
// training data's type.
const predictPy = `import json, os, pickle
import numpy as np
import pandas as pd

_view = json.loads(open("data/view.json").read())
_features, _target, _task = _view["features"], _view["target"], _view["task"]
_classes = _view.get("classes") or None
_X = pd.read_csv("data/train.csv")[_features]
_new = pd.read_csv(PARAMS["input"])
_Xn = _new[_features].copy()
for _c in _X.columns:
    if _X[_c].dtype == object or str(_X[_c].dtype) in ("str", "string"):
        _Xn[_c] = _Xn[_c].astype(_X[_c].dtype)
    elif _Xn[_c].dtype != _X[_c].dtype:
        _Xn[_c] = pd.to_numeric(_Xn[_c], errors="coerce").astype("float64")

def _predict(model, frame):
    if _task == "regression":
        return np.asarray(model.predict(frame), dtype="float64")
    p = np.asarray(model.predict_proba(frame), dtype="float64")
    if _task == "binary":
        return p[:, 1] if p.ndim == 2 else p
    return p

_pred = 0.0
for _m in PARAMS["members"]:
    with open(_m["model"], "rb") as _f:
        _model = pickle.load(_f)
    _p = _predict(_model, _Xn)
    if len(_p) != len(_Xn):
        raise ValueError(f"trial {_m['trial']}'s model returned {len(_p)} predictions for {len(_Xn)} rows")
    _pred = _pred + _m["weight"] * _p

_out = pd.DataFrame({c: _new[c] for c in PARAMS["ids"] or [] if c in _new.columns})
if _task == "regression":
    _out[_target] = _pred
elif _task == "binary":
    _out[_target] = np.where(_pred >= 0.5, _classes[1], _classes[0])
    _out[f"{_target}_proba_{_classes[1]}"] = _pred
else:
    _out[_target] = np.asarray(_classes, dtype=object)[np.argmax(_pred, axis=1)]
    for _i, _c in enumerate(_classes):
        _out[f"{_target}_proba_{_c}"] = _pred[:, _i]
# Through a temporary file, so a failure never leaves half a file.
_tmp = PARAMS["output"] + ".tmp"
if PARAMS["output"].lower().endswith((".parquet", ".pq")):
    _out.to_parquet(_tmp, index=False)
else:
    _out.to_csv(_tmp, index=False)
os.replace(_tmp, PARAMS["output"])
print("trialbook-predict " + json.dumps({"rows": len(_out)}))
`

// moveFile moves from to to, copying across file systems (the private
// folder is in the temporary dir); to is replaced whole or not at all.
func moveFile(from, to string) error {
	if err := os.Rename(from, to); err == nil {
		return nil
	}
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return writeFileAtomic(to, b)
}
