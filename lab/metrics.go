package lab

import (
	"fmt"
	"math"
	"sort"
)

// Truth is what the harness knows about the rows being scored: a number a row
// for regression, a class index into the problem's classes for classification.
type Truth struct {
	Values  []float64 // regression targets
	Classes []int     // classification: index of each row's class
	K       int       // classification: number of classes
}

// Len is the number of rows.
func (t Truth) Len() int {
	if t.K > 0 {
		return len(t.Classes)
	}
	return len(t.Values)
}

// Predictions are what a trial handed back for the same rows: one number a
// row (regression, or the probability of the second class for binary), or
// Width numbers a row in class order (multiclass probabilities).
type Predictions struct {
	Values []float64 // row-major
	Width  int       // 1, or the number of classes
}

// Rows is the number of predicted rows.
func (p Predictions) Rows() int {
	if p.Width <= 0 {
		return 0
	}
	return len(p.Values) / p.Width
}

func (p Predictions) at(row, col int) float64 { return p.Values[row*p.Width+col] }

// Metric is one scoring function, computed the way scikit-learn defines it.
type Metric struct {
	Name string
	// Maximize is true when larger is better.
	Maximize bool
	// Classification is true for metrics that need class labels.
	Classification bool
	score          func(t Truth, p Predictions) (float64, error)
}

// Score computes the metric; rows must match.
func (m Metric) Score(t Truth, p Predictions) (float64, error) {
	if t.Len() != p.Rows() {
		return 0, fmt.Errorf("%s: %d labels but %d predictions", m.Name, t.Len(), p.Rows())
	}
	if t.Len() == 0 {
		return 0, fmt.Errorf("%s: no rows to score", m.Name)
	}
	if m.Classification != (t.K > 0) {
		return 0, fmt.Errorf("metric %s does not fit this task", m.Name)
	}
	for i, v := range p.Values {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return 0, fmt.Errorf("%s: prediction %d is %v", m.Name, i/p.Width, v)
		}
	}
	return m.score(t, p)
}

// Better reports whether score a is better than score b.
func (m Metric) Better(a, b float64) bool {
	if m.Maximize {
		return a > b
	}
	return a < b
}

// LookupMetric returns the metric with that name: rmse, rmsle, mae, r2, mape,
// logloss, auc, accuracy, f1.
func LookupMetric(name string) (Metric, error) {
	switch name {
	case "rmse":
		return Metric{Name: name, score: regression(rmse)}, nil
	case "rmsle":
		return Metric{Name: name, score: regression(rmsle)}, nil
	case "mae":
		return Metric{Name: name, score: regression(mae)}, nil
	case "r2":
		return Metric{Name: name, Maximize: true, score: regression(r2)}, nil
	case "mape":
		return Metric{Name: name, score: regression(mape)}, nil
	case "logloss":
		return Metric{Name: name, Classification: true, score: logloss}, nil
	case "auc":
		return Metric{Name: name, Maximize: true, Classification: true, score: auc}, nil
	case "accuracy":
		return Metric{Name: name, Maximize: true, Classification: true, score: accuracy}, nil
	case "f1":
		return Metric{Name: name, Maximize: true, Classification: true, score: f1}, nil
	}
	return Metric{}, fmt.Errorf("unknown metric %q: want one of rmse, rmsle, mae, r2, mape, logloss, auc, accuracy, f1", name)
}

func regression(f func(y, p []float64) (float64, error)) func(Truth, Predictions) (float64, error) {
	return func(t Truth, p Predictions) (float64, error) {
		if p.Width != 1 {
			return 0, fmt.Errorf("regression predictions must be one number a row, got %d", p.Width)
		}
		return f(t.Values, p.Values)
	}
}

func rmse(y, p []float64) (float64, error) {
	var s float64
	for i := range y {
		d := y[i] - p[i]
		s += d * d
	}
	return math.Sqrt(s / float64(len(y))), nil
}

func rmsle(y, p []float64) (float64, error) {
	ly := make([]float64, len(y))
	lp := make([]float64, len(p))
	for i := range y {
		// scikit-learn refuses values at or below -1, where log1p is undefined.
		if y[i] <= -1 || p[i] <= -1 {
			return 0, fmt.Errorf("rmsle: row %d has a value <= -1 (label %v, prediction %v)", i, y[i], p[i])
		}
		ly[i], lp[i] = math.Log1p(y[i]), math.Log1p(p[i])
	}
	return rmse(ly, lp)
}

func mae(y, p []float64) (float64, error) {
	var s float64
	for i := range y {
		s += math.Abs(y[i] - p[i])
	}
	return s / float64(len(y)), nil
}

// r2 follows scikit-learn's force_finite: a constant target scores 1 when
// predicted exactly and 0 otherwise.
func r2(y, p []float64) (float64, error) {
	var mean float64
	for _, v := range y {
		mean += v
	}
	mean /= float64(len(y))
	var res, tot float64
	for i := range y {
		res += (y[i] - p[i]) * (y[i] - p[i])
		tot += (y[i] - mean) * (y[i] - mean)
	}
	if tot == 0 {
		if res == 0 {
			return 1, nil
		}
		return 0, nil
	}
	return 1 - res/tot, nil
}

// mape divides by max(|y|, machine epsilon), as scikit-learn does.
func mape(y, p []float64) (float64, error) {
	const eps = 2.220446049250313e-16
	var s float64
	for i := range y {
		s += math.Abs(y[i]-p[i]) / math.Max(math.Abs(y[i]), eps)
	}
	return s / float64(len(y)), nil
}

// prob returns the predicted probability of class c for a row: binary
// predictions hold the second class's probability only.
func prob(t Truth, p Predictions, row, c int) (float64, error) {
	if p.Width == 1 {
		if t.K != 2 {
			return 0, fmt.Errorf("%d classes need %d probabilities a row, got 1", t.K, t.K)
		}
		if c == 1 {
			return p.at(row, 0), nil
		}
		return 1 - p.at(row, 0), nil
	}
	if p.Width != t.K {
		return 0, fmt.Errorf("%d classes need %d probabilities a row, got %d", t.K, t.K, p.Width)
	}
	return p.at(row, c), nil
}

// logloss clips each probability to [eps, 1-eps] and does not renormalise,
// like scikit-learn 1.9.
func logloss(t Truth, p Predictions) (float64, error) {
	const eps = 2.220446049250313e-16
	var s float64
	for i, c := range t.Classes {
		q, err := prob(t, p, i, c)
		if err != nil {
			return 0, fmt.Errorf("logloss: %w", err)
		}
		q = math.Min(math.Max(q, eps), 1-eps)
		s -= math.Log(q)
	}
	return s / float64(len(t.Classes)), nil
}

// predicted returns each row's predicted class: probability >= 0.5 of the
// second class for binary, the argmax (first on ties) otherwise.
func predicted(t Truth, p Predictions) ([]int, error) {
	out := make([]int, t.Len())
	for i := range out {
		if p.Width == 1 {
			if t.K != 2 {
				return nil, fmt.Errorf("%d classes need %d probabilities a row, got 1", t.K, t.K)
			}
			if p.at(i, 0) >= 0.5 {
				out[i] = 1
			}
			continue
		}
		if p.Width != t.K {
			return nil, fmt.Errorf("%d classes need %d probabilities a row, got %d", t.K, t.K, p.Width)
		}
		best := 0
		for c := 1; c < p.Width; c++ {
			if p.at(i, c) > p.at(i, best) {
				best = c
			}
		}
		out[i] = best
	}
	return out, nil
}

func accuracy(t Truth, p Predictions) (float64, error) {
	pred, err := predicted(t, p)
	if err != nil {
		return 0, fmt.Errorf("accuracy: %w", err)
	}
	n := 0
	for i, c := range t.Classes {
		if pred[i] == c {
			n++
		}
	}
	return float64(n) / float64(len(pred)), nil
}

// f1 is the positive (second) class's F1 for binary problems and the macro
// average over classes for multiclass, scikit-learn's f1_score with
// average="binary" and average="macro". A class with no true and no predicted
// rows scores 0, scikit-learn's zero_division default.
func f1(t Truth, p Predictions) (float64, error) {
	pred, err := predicted(t, p)
	if err != nil {
		return 0, fmt.Errorf("f1: %w", err)
	}
	classF1 := func(c int) float64 {
		var tp, fp, fn float64
		for i, y := range t.Classes {
			switch {
			case y == c && pred[i] == c:
				tp++
			case y != c && pred[i] == c:
				fp++
			case y == c && pred[i] != c:
				fn++
			}
		}
		if tp+fp+fn == 0 {
			return 0
		}
		return 2 * tp / (2*tp + fp + fn)
	}
	if t.K == 2 {
		return classF1(1), nil
	}
	var s float64
	for c := 0; c < t.K; c++ {
		s += classF1(c)
	}
	return s / float64(t.K), nil
}

// auc is the area under the ROC curve for binary problems, and for multiclass
// the unweighted mean of one-vs-rest AUCs (scikit-learn's multi_class="ovr",
// average="macro").
func auc(t Truth, p Predictions) (float64, error) {
	if t.K == 2 {
		score := make([]float64, t.Len())
		pos := make([]bool, t.Len())
		for i, c := range t.Classes {
			q, err := prob(t, p, i, 1)
			if err != nil {
				return 0, fmt.Errorf("auc: %w", err)
			}
			score[i], pos[i] = q, c == 1
		}
		return binaryAUC(score, pos)
	}
	if p.Width != t.K {
		return 0, fmt.Errorf("auc: %d classes need %d probabilities a row, got %d", t.K, t.K, p.Width)
	}
	var s float64
	for c := 0; c < t.K; c++ {
		score := make([]float64, t.Len())
		pos := make([]bool, t.Len())
		for i, y := range t.Classes {
			score[i], pos[i] = p.at(i, c), y == c
		}
		a, err := binaryAUC(score, pos)
		if err != nil {
			return 0, fmt.Errorf("auc of class %d: %w", c, err)
		}
		s += a
	}
	return s / float64(t.K), nil
}

// binaryAUC is the Mann-Whitney statistic with ties counted half, which is
// the trapezoidal area scikit-learn computes.
func binaryAUC(score []float64, pos []bool) (float64, error) {
	idx := make([]int, len(score))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return score[idx[a]] < score[idx[b]] })
	var nPos, nNeg float64
	for _, p := range pos {
		if p {
			nPos++
		} else {
			nNeg++
		}
	}
	if nPos == 0 || nNeg == 0 {
		return 0, fmt.Errorf("only one class present in the labels; AUC is not defined")
	}
	// Sum of positive ranks, with average ranks for ties.
	var rankSum float64
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && score[idx[j]] == score[idx[i]] {
			j++
		}
		avg := float64(i+j+1) / 2 // ranks i+1..j
		for k := i; k < j; k++ {
			if pos[idx[k]] {
				rankSum += avg
			}
		}
		i = j
	}
	return (rankSum - nPos*(nPos+1)/2) / (nPos * nNeg), nil
}
