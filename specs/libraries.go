package specs

// Library is a Python package a trial kernel has, with its pinned version.
type Library struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// KernelLibraries are the libraries AGENTS.md promises a trial kernel: the
// pins of requirements/kernel.txt but ipykernel itself. A test fails when the
// two drift apart, so update both together.
func KernelLibraries() []Library {
	return []Library{
		{"numpy", "2.4.6"},
		{"pandas", "3.1.1"},
		{"scikit-learn", "1.9.1"},
		{"lightgbm", "4.7.0"},
		{"xgboost", "3.2.0"},
		{"catboost", "1.2.10"},
		{"matplotlib", "3.11.2"},
		{"shap", "0.51.0"},
		{"pyarrow", "26.0.1"},
	}
}
