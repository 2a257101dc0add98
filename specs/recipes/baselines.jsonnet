// Baselines: what every later trial must beat.
[
  {
    name: 'dummy',
    stage: 'baseline',
    family: 'dummy',
    title: 'Dummy baseline',
    why: 'A model that ignores the features entirely (the mean for regression, the class frequencies for classification). Every later trial has to beat it, or its features carry no signal.',
    preprocess: 'none',
    model: {
      regression: 'DummyRegressor(strategy="mean")',
      classification: 'DummyClassifier(strategy="prior")',
    },
  },
  {
    name: 'linear',
    stage: 'baseline',
    family: 'linear',
    title: 'Linear baseline with proper preprocessing',
    why: 'A regularised linear model on median-imputed, standardised numbers and one-hot categories. It shows how much of the signal is additive before trying trees.',
    preprocess: 'linear',
    params: { alpha: 10.0, C: 1.0 },
    model: {
      regression: 'Ridge(alpha=PARAMS["alpha"])',
      classification: 'LogisticRegression(C=PARAMS["C"], max_iter=2000)',
    },
    moves: [
      { name: 'stronger-regularisation', why: 'more regularisation', params: { alpha: 30.0, C: 0.3 } },
    ],
  },
]
