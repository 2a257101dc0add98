package lab

import (
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"trialbook/journal"
	"trialbook/specs"
)

// reportHoldout is the report's "How the final model does on the sealed
// holdout": the model trialbook predict applies and, when it is another
// one, the best single trial, evaluated by the harness from their saved
// predictions and the sealed labels. Every number the section shows is
// here; the kernel only draws (curves and residuals from the same files).
// It is written for people: nothing here reaches an agent.
type reportHoldout struct {
	Rows     int            `json:"rows"`
	Disabled string         `json:"disabled,omitempty"` // why there is no evaluation
	Models   []holdoutModel `json:"models"`             // the model predict applies first
	// Kept is CV against holdout for every kept trial, in trial order.
	Kept []keptScore `json:"kept"`
	// Concordant and Pairs count the pairs of kept trials whose order by CV
	// is their order on the holdout.
	Concordant int `json:"concordant"`
	Pairs      int `json:"pairs"`
}

type keptScore struct {
	Trial   int     `json:"trial"`
	Title   string  `json:"title"`
	CV      float64 `json:"cv"`
	Holdout float64 `json:"holdout"`
}

// holdoutModel is one evaluated model: a single trial or a weighted blend.
type holdoutModel struct {
	Name    string          `json:"name"` // "the ensemble of trials 3, 5", "trial 3"
	Role    string          `json:"role"` // what it is: "predict", "best", or "predict, best"
	Members []holdoutMember `json:"members"`
	Metrics []holdoutMetric `json:"metrics"` // every metric the task allows
	// Journal is the holdout score the journal recorded for this model on
	// the problem's metric, which Metrics must repeat.
	Journal    *float64        `json:"journal"`
	Binary     *binaryHoldout  `json:"binary,omitempty"`
	Multiclass *multiHoldout   `json:"multiclass,omitempty"`
	Regression *regressHoldout `json:"regression,omitempty"`
	hold, oof  Predictions     // the blended predictions, for the sections
	score      *journal.Score  // as recorded
}

type holdoutMember struct {
	Trial   int     `json:"trial"`
	Weight  float64 `json:"weight"`
	Holdout string  `json:"holdout"` // trials/NNN/holdout.npy
}

type holdoutMetric struct {
	Name      string   `json:"name"`
	Direction string   `json:"direction"`
	Value     *float64 `json:"value"` // nil when not defined here
	Note      string   `json:"note,omitempty"`
	Optimised bool     `json:"optimised"` // the problem's metric
}

type binaryHoldout struct {
	Positive     any     `json:"positive"` // CLASSES[1]
	BaseRate     float64 `json:"baseRate"` // share of positive holdout rows
	AUC          float64 `json:"auc"`
	AP           float64 `json:"ap"` // average precision (scikit-learn's)
	Threshold    float64 `json:"threshold"`
	ThresholdWhy string  `json:"thresholdWhy"`
	// Confusion is [true][predicted] counts at Threshold, negative first.
	Confusion   [2][2]int     `json:"confusion"`
	Precision   float64       `json:"precision"`
	Recall      float64       `json:"recall"`
	F1          float64       `json:"f1"`
	Accuracy    float64       `json:"accuracy"`
	Calibration []calibration `json:"calibration"` // non-empty bins of 10 equal-width bins
	ECE         float64       `json:"ece"`         // expected calibration error over those bins
}

type calibration struct {
	Lo            float64 `json:"lo"`
	Hi            float64 `json:"hi"`
	Count         int     `json:"count"`
	MeanPredicted float64 `json:"meanPredicted"`
	Observed      float64 `json:"observed"` // share of positive rows
}

type multiHoldout struct {
	Classes    []any         `json:"classes"`
	Confusion  [][]int       `json:"confusion"`  // [true][predicted]
	Normalised [][]float64   `json:"normalised"` // each true class's row sums to 1
	PerClass   []classScores `json:"perClass"`
	TopK       []topK        `json:"topK"` // when there are more than 5 classes
	Accuracy   float64       `json:"accuracy"`
}

type classScores struct {
	Class     any     `json:"class"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	F1        float64 `json:"f1"`
	Support   int     `json:"support"`
}

type topK struct {
	K        int     `json:"k"`
	Accuracy float64 `json:"accuracy"`
}

type regressHoldout struct {
	Deciles []decileError `json:"deciles"` // by the true value, lowest first
	// Residuals are prediction minus truth.
	MeanResidual float64 `json:"meanResidual"`
	ResidualP05  float64 `json:"residualP05"`
	ResidualP95  float64 `json:"residualP95"`
	// MAE of the rows predicted below and above the median prediction.
	MAELowPredicted  float64 `json:"maeLowPredicted"`
	MAEHighPredicted float64 `json:"maeHighPredicted"`
}

type decileError struct {
	Decile int     `json:"decile"` // 1..10
	Lo     float64 `json:"lo"`     // the smallest and largest true value in it
	Hi     float64 `json:"hi"`
	Count  int     `json:"count"`
	MAE    float64 `json:"mae"`
	RMSE   float64 `json:"rmse"`
	Bias   float64 `json:"bias"` // mean prediction minus truth
}

// gatherHoldout evaluates the predict model (or, when predict cannot run,
// the best trial) and the best single trial on the sealed holdout.
func gatherHoldout(dir string, d *Data, events []journal.Event, snap *journal.Snapshot, pm PredictModel, predictErr error, trials []reportTrial) *reportHoldout {
	h := &reportHoldout{Rows: d.View.HoldoutRows, Models: []holdoutModel{}, Kept: []keptScore{}}
	for _, t := range trials {
		if t.Status == journal.TrialStatusKept && t.CV != nil && t.Holdout != nil {
			h.Kept = append(h.Kept, keptScore{Trial: t.Trial, Title: t.Title, CV: *t.CV, Holdout: *t.Holdout})
		}
	}
	for i := range h.Kept {
		for j := i + 1; j < len(h.Kept); j++ {
			a, b := h.Kept[i], h.Kept[j]
			if a.CV == b.CV {
				continue
			}
			h.Pairs++
			if (a.CV < b.CV) == (a.Holdout < b.Holdout) && a.Holdout != b.Holdout {
				h.Concordant++
			}
		}
	}
	switch {
	case d.View.HoldoutRows == 0:
		h.Disabled = "the problem seals no holdout (holdout: 0), so there are no unseen rows to evaluate on"
		return h
	case snap.Best == nil || snap.Best.Score == nil:
		h.Disabled = "no trial has been kept yet, so there is no model to evaluate"
		return h
	}
	m, err := LookupMetric(snap.Problem.Metric)
	if err != nil {
		h.Disabled = err.Error()
		return h
	}
	best := snap.Best.Trial
	var models []holdoutModel
	if predictErr == nil && pm.Ensemble {
		x := holdoutModel{Role: "predict", score: lastEnsemble(events).Score}
		var names []string
		for _, w := range pm.Members {
			x.Members = append(x.Members, holdoutMember{Trial: w.Trial, Weight: w.Weight})
			names = append(names, fmt.Sprint(w.Trial))
		}
		x.Name = "the ensemble of trials " + strings.Join(names, ", ")
		models = append(models, x, holdoutModel{Name: fmt.Sprintf("trial %d", best), Role: "best", score: snap.Best.Score,
			Members: []holdoutMember{{Trial: best, Weight: 1}}})
	} else {
		role := "predict, best"
		if predictErr != nil {
			role = "best" // predict cannot run yet; the best trial is what it would apply
		}
		models = append(models, holdoutModel{Name: fmt.Sprintf("trial %d", best), Role: role, score: snap.Best.Score,
			Members: []holdoutMember{{Trial: best, Weight: 1}}})
	}
	for i := range models {
		if err := evaluateHoldout(dir, d, m, &models[i]); err != nil {
			h.Disabled = fmt.Sprintf("%s: %v", models[i].Name, err)
			h.Models = []holdoutModel{}
			return h
		}
		h.Models = append(h.Models, models[i])
	}
	return h
}

// evaluateHoldout blends x's members' saved predictions and fills in its
// metrics and its task's section.
func evaluateHoldout(dir string, d *Data, m Metric, x *holdoutModel) error {
	width := 1
	if d.View.Task == specs.Multiclass {
		width = len(d.View.Classes)
	}
	x.hold = Predictions{Width: width, Values: make([]float64, d.View.HoldoutRows*width)}
	x.oof = Predictions{Width: width, Values: make([]float64, d.View.Rows*width)}
	for i, mb := range x.Members {
		rel := filepath.ToSlash(filepath.Join("trials", fmt.Sprintf("%03d", mb.Trial)))
		x.Members[i].Holdout = rel + "/holdout.npy"
		for _, part := range []struct {
			file string
			into []float64
		}{{"holdout.npy", x.hold.Values}, {"oof.npy", x.oof.Values}} {
			a, err := ReadNpy(filepath.Join(dir, filepath.FromSlash(rel), part.file))
			if err != nil {
				return err
			}
			if len(a.Data) != len(part.into) {
				return fmt.Errorf("trials/%03d/%s has %d values, want %d", mb.Trial, part.file, len(a.Data), len(part.into))
			}
			for j, v := range a.Data {
				part.into[j] += mb.Weight * v
			}
		}
	}
	if x.score != nil {
		x.Journal = x.score.Holdout
	}
	task := d.View.Task
	for _, name := range specs.MetricNames(task) {
		mm, err := LookupMetric(name)
		if err != nil {
			return err
		}
		row := holdoutMetric{Name: name, Direction: "minimize", Optimised: name == m.Name}
		if mm.Maximize {
			row.Direction = "maximize"
		}
		if name == "mape" && slices.Contains(d.Holdout.Values, 0) {
			row.Note = "not defined: a true value is 0"
		} else if v, err := mm.Score(d.Holdout, x.hold); err != nil {
			row.Note = "not defined: " + err.Error()
		} else {
			row.Value = &v
		}
		x.Metrics = append(x.Metrics, row)
	}
	switch task {
	case specs.Binary:
		x.Binary = binaryEvaluation(d, m, x.hold, x.oof)
	case specs.Multiclass:
		x.Multiclass = multiEvaluation(d, x.hold)
	default:
		x.Regression = regressEvaluation(d.Holdout.Values, x.hold.Values)
	}
	return nil
}

// binaryEvaluation: p holds the probability of CLASSES[1] a row.
func binaryEvaluation(d *Data, m Metric, hold, oof Predictions) *binaryHoldout {
	y := d.Holdout.Classes
	pos := make([]bool, len(y))
	b := &binaryHoldout{Positive: classValue(d.View.Classes[1]), Threshold: 0.5}
	for i, c := range y {
		pos[i] = c == 1
		if pos[i] {
			b.BaseRate++
		}
	}
	b.BaseRate /= float64(len(y))
	b.AUC, _ = binaryAUC(hold.Values, pos) // NaN-free: Score checked the predictions
	b.AP = averagePrecision(hold.Values, pos)
	switch m.Name {
	case "f1":
		rows := validatedRows(d.Folds, d.View.Rows)
		score := make([]float64, len(rows))
		opos := make([]bool, len(rows))
		for j, i := range rows {
			score[j], opos[j] = oof.Values[i], d.Train.Classes[i] == 1
		}
		var f float64
		b.Threshold, f = f1Threshold(score, opos)
		b.ThresholdWhy = fmt.Sprintf("the one that maximises F1 on the %d out-of-fold predictions (F1 %.4g there), chosen without looking at the holdout", len(rows), f)
	case "accuracy", "logloss":
		b.ThresholdWhy = "0.5, the threshold " + m.Name + " implies: the more probable class"
	default:
		b.ThresholdWhy = "0.5, the more probable class, as trialbook predict labels rows; " + m.Name + " itself needs no threshold"
	}
	for i, p := range hold.Values {
		t, pr := 0, 0
		if pos[i] {
			t = 1
		}
		if p >= b.Threshold {
			pr = 1
		}
		b.Confusion[t][pr]++
	}
	tn, fp, fn, tp := float64(b.Confusion[0][0]), float64(b.Confusion[0][1]), float64(b.Confusion[1][0]), float64(b.Confusion[1][1])
	b.Precision, b.Recall = ratio(tp, tp+fp), ratio(tp, tp+fn)
	b.F1 = ratio(2*tp, 2*tp+fp+fn)
	b.Accuracy = (tp + tn) / float64(len(y))
	b.Calibration, b.ECE = calibrationCurve(hold.Values, pos, 10)
	return b
}

// ratio is a/b, and 0 when b is 0 (scikit-learn's zero_division default).
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// classValue decodes one of the view's classes for report.json.
func classValue(c json.RawMessage) any {
	var v any
	_ = json.Unmarshal(c, &v)
	return v
}

// descending returns row indices by score, highest first, and the end of
// each run of tied scores in that order.
func descending(score []float64) (idx []int, runEnds []int) {
	idx = make([]int, len(score))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return score[idx[a]] > score[idx[b]] })
	for i := range idx {
		if i == len(idx)-1 || score[idx[i+1]] != score[idx[i]] {
			runEnds = append(runEnds, i+1)
		}
	}
	return idx, runEnds
}

// averagePrecision is scikit-learn's average_precision_score: the sum over
// thresholds (each distinct score, highest first) of the recall gained
// times the precision there.
func averagePrecision(score []float64, pos []bool) float64 {
	var nPos float64
	for _, p := range pos {
		if p {
			nPos++
		}
	}
	if nPos == 0 {
		return 0
	}
	idx, ends := descending(score)
	var tp, ap, lastRecall float64
	start := 0
	for _, end := range ends {
		for _, i := range idx[start:end] {
			if pos[i] {
				tp++
			}
		}
		recall := tp / nPos
		ap += (recall - lastRecall) * tp / float64(end)
		lastRecall, start = recall, end
	}
	return ap
}

// f1Threshold returns the score t maximising the F1 of "score >= t", and
// that F1. Ties go to the higher threshold.
func f1Threshold(score []float64, pos []bool) (float64, float64) {
	var nPos float64
	for _, p := range pos {
		if p {
			nPos++
		}
	}
	idx, ends := descending(score)
	bestT, bestF := 0.5, -1.0
	var tp float64
	start := 0
	for _, end := range ends {
		for _, i := range idx[start:end] {
			if pos[i] {
				tp++
			}
		}
		fp := float64(end) - tp
		if f := ratio(2*tp, tp+fp+nPos); f > bestF {
			bestT, bestF = score[idx[end-1]], f
		}
		start = end
	}
	return bestT, max(bestF, 0)
}

// calibrationCurve is scikit-learn's calibration_curve(strategy="uniform"):
// bins of equal width over [0, 1], a probability on an inner edge in the
// lower bin, empty bins left out; and the expected calibration error, the
// rows-weighted mean gap between predicted and observed.
func calibrationCurve(p []float64, pos []bool, bins int) ([]calibration, float64) {
	step := 1 / float64(bins)
	counts, sums, hits := make([]int, bins), make([]float64, bins), make([]int, bins)
	for i, v := range p {
		b := 0
		for b < bins-1 && float64(b+1)*step < v { // numpy.linspace's inner edges
			b++
		}
		counts[b]++
		sums[b] += v
		if pos[i] {
			hits[b]++
		}
	}
	out := []calibration{}
	var ece float64
	for b := range bins {
		if counts[b] == 0 {
			continue
		}
		c := calibration{Lo: float64(b) * step, Hi: float64(b+1) * step, Count: counts[b],
			MeanPredicted: sums[b] / float64(counts[b]), Observed: float64(hits[b]) / float64(counts[b])}
		if b == bins-1 {
			c.Hi = 1
		}
		ece += float64(c.Count) * math.Abs(c.Observed-c.MeanPredicted)
		out = append(out, c)
	}
	return out, ece / float64(len(p))
}

func multiEvaluation(d *Data, hold Predictions) *multiHoldout {
	k := len(d.View.Classes)
	y := d.Holdout.Classes
	pred, _ := predicted(d.Holdout, hold) // shapes were checked by Score
	mh := &multiHoldout{Confusion: make([][]int, k), Normalised: make([][]float64, k), PerClass: []classScores{}, TopK: []topK{}}
	for c := range k {
		mh.Classes = append(mh.Classes, classValue(d.View.Classes[c]))
		mh.Confusion[c] = make([]int, k)
		mh.Normalised[c] = make([]float64, k)
	}
	right := 0
	for i, c := range y {
		mh.Confusion[c][pred[i]]++
		if pred[i] == c {
			right++
		}
	}
	mh.Accuracy = float64(right) / float64(len(y))
	for c := range k {
		var support, predictedAs int
		for j := range k {
			support += mh.Confusion[c][j]
			predictedAs += mh.Confusion[j][c]
		}
		for j := range k {
			mh.Normalised[c][j] = ratio(float64(mh.Confusion[c][j]), float64(support))
		}
		tp := float64(mh.Confusion[c][c])
		mh.PerClass = append(mh.PerClass, classScores{Class: mh.Classes[c], Support: support,
			Precision: ratio(tp, float64(predictedAs)), Recall: ratio(tp, float64(support)),
			F1: ratio(2*tp, float64(support+predictedAs))})
	}
	if k > 5 {
		for _, kk := range []int{3, 5} {
			in := 0
			for i, c := range y {
				// The true class is among the kk most probable when fewer
				// than kk classes are strictly more probable.
				above := 0
				for j := range k {
					if hold.at(i, j) > hold.at(i, c) {
						above++
					}
				}
				if above < kk {
					in++
				}
			}
			mh.TopK = append(mh.TopK, topK{K: kk, Accuracy: float64(in) / float64(len(y))})
		}
	}
	return mh
}

func regressEvaluation(y, p []float64) *regressHoldout {
	n := len(y)
	r := &regressHoldout{}
	res := make([]float64, n)
	for i := range y {
		res[i] = p[i] - y[i]
		r.MeanResidual += res[i]
	}
	r.MeanResidual /= float64(n)
	sorted := slices.Clone(res)
	slices.Sort(sorted)
	r.ResidualP05, r.ResidualP95 = quantile(sorted, 0.05), quantile(sorted, 0.95)

	// Deciles of the truth: the rows sorted by true value (stable), cut into
	// ten runs as numpy.array_split cuts them.
	byTrue := make([]int, n)
	for i := range byTrue {
		byTrue[i] = i
	}
	sort.SliceStable(byTrue, func(a, b int) bool { return y[byTrue[a]] < y[byTrue[b]] })
	parts := min(10, n)
	start := 0
	for q := range parts {
		size := n / parts
		if q < n%parts {
			size++
		}
		rows := byTrue[start : start+size]
		start += size
		de := decileError{Decile: q + 1, Lo: y[rows[0]], Hi: y[rows[len(rows)-1]], Count: len(rows)}
		for _, i := range rows {
			de.MAE += math.Abs(res[i])
			de.RMSE += res[i] * res[i]
			de.Bias += res[i]
		}
		de.MAE /= float64(len(rows))
		de.RMSE = math.Sqrt(de.RMSE / float64(len(rows)))
		de.Bias /= float64(len(rows))
		r.Deciles = append(r.Deciles, de)
	}

	// Errors on the lower and upper half of the predictions.
	byPred := make([]int, n)
	for i := range byPred {
		byPred[i] = i
	}
	sort.SliceStable(byPred, func(a, b int) bool { return p[byPred[a]] < p[byPred[b]] })
	mean := func(rows []int) float64 {
		var s float64
		for _, i := range rows {
			s += math.Abs(res[i])
		}
		return ratio(s, float64(len(rows)))
	}
	r.MAELowPredicted, r.MAEHighPredicted = mean(byPred[:n/2]), mean(byPred[n/2:])
	return r
}

// quantile of sorted values with linear interpolation (numpy's default).
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	if lo+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[lo] + (pos-float64(lo))*(sorted[lo+1]-sorted[lo])
}
