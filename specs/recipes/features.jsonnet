// Feature research, one step at a time on the best trial so far. Each step
// is kept only if it beats that trial by more than noise. `when` says which
// evidence the step needs (the strategist checks it and cites it):
//   skewed-target      a regression target with skewness above 0.75, all >= 0
//   missing-values     some feature columns have missing values
//   high-cardinality   some categorical columns have more than 10 levels
//   importance         an earlier tree trial ranked the features
[
  {
    name: 'log-target',
    stage: 'feature',
    step: 'log_target',
    when: 'skewed-target',
    tasks: ['regression'],
    title: 'log target',
    why: 'Fit on log1p(target) and predict expm1: a right-skewed target makes squared errors dominated by the largest values, and RMSE on the original scale usually improves when the model sees a symmetric target.',
  },
  {
    name: 'missing-indicators',
    stage: 'feature',
    step: 'missing_indicators',
    when: 'missing-values',
    title: 'missing indicators',
    why: 'Add a 0/1 column for every feature with missing values: in many datasets a missing value means something (no garage, no pool), and imputation hides it.',
  },
  {
    name: 'target-encoding',
    stage: 'feature',
    step: 'target_encoding',
    when: 'high-cardinality',
    title: 'in-fold target encoding',
    why: "Encode categories with many levels by the target's mean in that level, fitted inside each fold only (scikit-learn's TargetEncoder, cross-fitted), so no validation label leaks into training.",
  },
  {
    name: 'interactions',
    stage: 'feature',
    step: 'interactions',
    when: 'importance',
    title: 'interactions and ratios of the strongest features',
    why: 'Products and ratios of the most important numeric features let trees and linear models use combinations they would otherwise have to approximate with many splits.',
  },
  {
    name: 'permutation-selection',
    stage: 'feature',
    step: 'select',
    when: 'importance',
    title: 'selection by permutation importance',
    why: 'Inside each fold, fit on 80% of the fold\'s training rows, measure each feature\'s permutation importance on the other 20%, and refit on the features that help; dropping noise features can lower variance.',
  },
]
