package specs

// metricInfo is one metric the harness computes, with the tasks it fits.
// lib/trialbook.libsonnet holds the same table for problem files; a test
// keeps the two equal.
type metricInfo struct {
	Name      string
	Direction Direction
	Tasks     []Task
	About     string // one line for AGENTS.md
	// AboutMulticlass, when set, replaces About for multiclass problems.
	AboutMulticlass string
}

// about describes the metric for a task.
func (m metricInfo) about(t Task) string {
	if t == Multiclass && m.AboutMulticlass != "" {
		return m.AboutMulticlass
	}
	return m.About
}

// metricTable lists every metric in the order error messages offer them.
func metricTable() []metricInfo {
	return []metricInfo{
		{"rmse", Minimize, []Task{Regression}, "root mean squared error", ""},
		{"rmsle", Minimize, []Task{Regression}, "root mean squared error of log(1 + y); predictions and targets must be ≥ 0", ""},
		{"mae", Minimize, []Task{Regression}, "mean absolute error", ""},
		{"r2", Maximize, []Task{Regression}, "coefficient of determination", ""},
		{"mape", Minimize, []Task{Regression}, "mean absolute percentage error; targets must not be 0", ""},
		{"logloss", Minimize, []Task{Binary, Multiclass}, "log loss of the predicted probabilities", ""},
		{"auc", Maximize, []Task{Binary, Multiclass}, "area under the ROC curve of the predicted probability of `CLASSES[1]`",
			"area under the ROC curve of the predicted probabilities, one class against the rest, averaged over classes"},
		{"accuracy", Maximize, []Task{Binary, Multiclass}, "share of rows whose class is right, the probability thresholded at 0.5",
			"share of rows whose class is right, the class of highest probability"},
		{"f1", Maximize, []Task{Binary, Multiclass}, "F1 score of `CLASSES[1]`, the probability thresholded at 0.5",
			"F1 score averaged over classes (macro), the class of highest probability"},
	}
}

// LookupMetric returns the metric with its direction, or false when name is
// not a metric trialbook computes.
func LookupMetric(name string) (Metric, bool) {
	m, ok := findMetric(name)
	if !ok {
		return Metric{}, false
	}
	return Metric{Name: m.Name, Direction: m.Direction}, true
}

// MetricNames lists the metrics trialbook computes, for a task or for all
// tasks when task is "".
func MetricNames(task Task) []string {
	var names []string
	for _, m := range metricTable() {
		if task == "" || m.fits(task) {
			names = append(names, m.Name)
		}
	}
	return names
}

func findMetric(name string) (metricInfo, bool) {
	for _, m := range metricTable() {
		if m.Name == name {
			return m, true
		}
	}
	return metricInfo{}, false
}

func (m metricInfo) fits(t Task) bool {
	for _, x := range m.Tasks {
		if x == t {
			return true
		}
	}
	return false
}

// defaultMetric is the metric a task gets when the problem names none.
func defaultMetric(t Task) string {
	switch t {
	case Regression:
		return "rmse"
	case Binary:
		return "auc"
	default:
		return "logloss"
	}
}
