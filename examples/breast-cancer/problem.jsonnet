// Breast Cancer Wisconsin (Diagnostic): tell malignant from benign tumours
// from 30 measurements of cell nuclei in a biopsy image. The data ships with
// scikit-learn; write the CSV first:
//
//   make examples-data      (or .venv/bin/python examples/breast-cancer/export_data.py)
//   trialbook check examples/breast-cancer
//   trialbook agents-md examples/breast-cancer
local tb = import 'trialbook.libsonnet';

tb.binary {
  name: 'breast-cancer',
  data: 'breast-cancer.csv',
  target: 'diagnosis',
  metric: 'auc',
  validation: tb.stratifiedKfold(5),
  holdout: 0.2,
  trials: 15,
  trialTime: '5m',
  features: tb.features(ids=['sample_id']),
  explain: true,
  context: |||
    569 biopsies; each row is one tumour and its 30 features are the mean,
    standard error and worst (largest) value of ten measurements of the cell
    nuclei (radius, texture, perimeter, area, smoothness, ...). The classes
    are benign (357) and malignant (212). Features are strongly correlated
    (radius, perimeter and area measure nearly the same thing); keep models
    simple and well calibrated, the data is small.
  |||,
}
