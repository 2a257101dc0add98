package lab

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// sklearnScript computes the same metrics with scikit-learn from .npy files.
const sklearnScript = `
import json, sys, warnings
import numpy as np
from sklearn import metrics as m
warnings.simplefilter("ignore")
d = sys.argv[1]
out = {}
y = np.load(d + "/reg_y.npy"); p = np.load(d + "/reg_p.npy")
out["rmse"] = m.root_mean_squared_error(y, p)
out["rmsle"] = m.root_mean_squared_log_error(y, p)
out["mae"] = m.mean_absolute_error(y, p)
out["r2"] = m.r2_score(y, p)
out["mape"] = m.mean_absolute_percentage_error(y, p)
yb = np.load(d + "/bin_y.npy").astype(int); pb = np.load(d + "/bin_p.npy")
out["bin/logloss"] = m.log_loss(yb, pb, labels=[0, 1])
out["bin/auc"] = m.roc_auc_score(yb, pb)
out["bin/accuracy"] = m.accuracy_score(yb, (pb >= 0.5).astype(int))
out["bin/f1"] = m.f1_score(yb, (pb >= 0.5).astype(int))
ym = np.load(d + "/multi_y.npy").astype(int); pm = np.load(d + "/multi_p.npy")
labels = list(range(pm.shape[1]))
out["multi/logloss"] = m.log_loss(ym, pm, labels=labels)
out["multi/auc"] = m.roc_auc_score(ym, pm, multi_class="ovr", average="macro", labels=labels)
out["multi/accuracy"] = m.accuracy_score(ym, pm.argmax(axis=1))
out["multi/f1"] = m.f1_score(ym, pm.argmax(axis=1), average="macro", labels=labels, zero_division=0)
print(json.dumps({k: float(v) for k, v in out.items()}))
`

func TestMetricsMatchScikitLearn(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Python")
	}
	rng := rand.New(rand.NewPCG(1, 2))
	dir := t.TempDir()
	const n, k = 300, 4
	write := func(name string, a Array) {
		if err := WriteNpy(filepath.Join(dir, name), a); err != nil {
			t.Fatal(err)
		}
	}
	regY, regP := make([]float64, n), make([]float64, n)
	for i := range regY {
		regY[i] = math.Exp(rng.NormFloat64()*0.5 + 10)
		regP[i] = regY[i] * math.Exp(rng.NormFloat64()*0.2)
	}
	binY, binP := make([]float64, n), make([]float64, n)
	binC := make([]int, n)
	for i := range binY {
		binC[i] = rng.IntN(2)
		binY[i] = float64(binC[i])
		// Rounded so that AUC sees ties; some exact 0 and 1 for clipping.
		binP[i] = math.Round(math.Min(1, math.Max(0, 0.5+0.3*(binY[i]-0.5)+rng.NormFloat64()*0.3))*20) / 20
	}
	multiY, multiP := make([]float64, n), make([]float64, n*k)
	multiC := make([]int, n)
	for i := 0; i < n; i++ {
		multiC[i] = rng.IntN(k)
		multiY[i] = float64(multiC[i])
		var s float64
		for c := 0; c < k; c++ {
			v := rng.Float64()
			if c == multiC[i] {
				v += 0.5
			}
			multiP[i*k+c] = v
			s += v
		}
		for c := 0; c < k; c++ {
			multiP[i*k+c] /= s
		}
	}
	write("reg_y.npy", Array{Shape: []int{n}, Data: regY})
	write("reg_p.npy", Array{Shape: []int{n}, Data: regP})
	write("bin_y.npy", Array{Shape: []int{n}, Data: binY})
	write("bin_p.npy", Array{Shape: []int{n}, Data: binP})
	write("multi_y.npy", Array{Shape: []int{n}, Data: multiY})
	write("multi_p.npy", Array{Shape: []int{n, k}, Data: multiP})

	var want map[string]float64
	if err := json.Unmarshal(runPython(t, sklearnScript, dir), &want); err != nil {
		t.Fatal(err)
	}
	reg := Truth{Values: regY}
	bin := Truth{Classes: binC, K: 2}
	multi := Truth{Classes: multiC, K: k}
	cases := []struct {
		key   string
		truth Truth
		pred  Predictions
	}{
		{"rmse", reg, Predictions{regP, 1}},
		{"rmsle", reg, Predictions{regP, 1}},
		{"mae", reg, Predictions{regP, 1}},
		{"r2", reg, Predictions{regP, 1}},
		{"mape", reg, Predictions{regP, 1}},
		{"bin/logloss", bin, Predictions{binP, 1}},
		{"bin/auc", bin, Predictions{binP, 1}},
		{"bin/accuracy", bin, Predictions{binP, 1}},
		{"bin/f1", bin, Predictions{binP, 1}},
		{"multi/logloss", multi, Predictions{multiP, k}},
		{"multi/auc", multi, Predictions{multiP, k}},
		{"multi/accuracy", multi, Predictions{multiP, k}},
		{"multi/f1", multi, Predictions{multiP, k}},
	}
	for _, c := range cases {
		name := filepath.Base(c.key)
		m, err := LookupMetric(name)
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.Score(c.truth, c.pred)
		if err != nil {
			t.Errorf("%s: %v", c.key, err)
			continue
		}
		w, ok := want[c.key]
		if !ok {
			t.Fatalf("scikit-learn did not compute %s", c.key)
		}
		if math.Abs(got-w) > 1e-9*math.Max(1, math.Abs(w)) {
			t.Errorf("%s = %.15g, scikit-learn says %.15g", c.key, got, w)
		}
	}
}

func TestMetricErrors(t *testing.T) {
	rmse, _ := LookupMetric("rmse")
	if _, err := rmse.Score(Truth{Values: []float64{1, 2}}, Predictions{[]float64{1}, 1}); err == nil {
		t.Error("length mismatch scored")
	}
	if _, err := rmse.Score(Truth{Values: []float64{1, 2}}, Predictions{[]float64{1, math.NaN()}, 1}); err == nil {
		t.Error("NaN prediction scored")
	}
	logloss, _ := LookupMetric("logloss")
	if _, err := logloss.Score(Truth{Classes: []int{0, 1, 2}, K: 3}, Predictions{[]float64{0.1, 0.2, 0.3}, 1}); err == nil {
		t.Error("one column scored for three classes")
	}
	if _, err := LookupMetric("accuracyy"); err == nil {
		t.Error("unknown metric found")
	}
}

func TestNpyRoundTripWithNumPy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Python")
	}
	dir := t.TempDir()
	runPython(t, `
import sys, numpy as np
d = sys.argv[1]
np.save(d + "/a.npy", np.arange(12, dtype="float64").reshape(4, 3) / 7)
np.save(d + "/b.npy", np.arange(5, dtype="int64"))
np.save(d + "/c.npy", np.asfortranarray(np.ones((2, 3))))
`, dir)
	a, err := ReadNpy(filepath.Join(dir, "a.npy"))
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Shape) != 2 || a.Shape[0] != 4 || a.Shape[1] != 3 || a.Data[5] != 5.0/7 {
		t.Errorf("a.npy read as %v %v", a.Shape, a.Data)
	}
	b, err := ReadNpy(filepath.Join(dir, "b.npy"))
	if err != nil || len(b.Shape) != 1 || b.Data[4] != 4 {
		t.Errorf("b.npy read as %v, %v", b, err)
	}
	if _, err := ReadNpy(filepath.Join(dir, "c.npy")); err == nil {
		t.Error("Fortran order accepted")
	}
	if err := WriteNpy(filepath.Join(dir, "d.npy"), Array{Shape: []int{2, 2}, Data: []float64{1, 2, 3, 4.5}}); err != nil {
		t.Fatal(err)
	}
	out := runPython(t, `import sys, numpy as np; a = np.load(sys.argv[1] + "/d.npy"); print(a.shape, a.dtype, a[1, 1])`, dir)
	if got, want := string(out), "(2, 2) float64 4.5\n"; got != want {
		t.Errorf("numpy read d.npy as %q, want %q", got, want)
	}
}
