// Model families, tried in this order after the baselines: the families
// that usually win on tabular data first, so a short budget still sees them. `requires` names
// the Python module a family needs; a trial whose module is missing fails
// and the strategist moves on.
local trees(n) = { n_estimators: n };
[
  {
    name: 'lightgbm',
    stage: 'family',
    family: 'lightgbm',
    requires: 'lightgbm',
    title: 'LightGBM',
    why: 'Gradient-boosted trees with leaf-wise growth: usually the strongest single family on tabular data, and fast.',
    preprocess: 'tree',
    params: { n_estimators: 600, learning_rate: 0.03, num_leaves: 15, min_child_samples: 10, subsample: 0.8, subsample_freq: 1, colsample_bytree: 0.5, reg_lambda: 1.0 },
    model: {
      regression: 'LGBMRegressor(**PARAMS, random_state=SEED, n_jobs=N_JOBS, verbose=-1)',
      classification: 'LGBMClassifier(**PARAMS, random_state=SEED, n_jobs=N_JOBS, verbose=-1)',
    },
    imports: 'from lightgbm import LGBMRegressor, LGBMClassifier',
    moves: [
      { name: 'slower-learning', why: 'halve the learning rate and double the trees, which usually generalises better', params: { learning_rate: 0.015, n_estimators: 1200 } },
      { name: 'smaller-leaves', why: 'fewer leaves and more samples per leaf, against overfitting', params: { num_leaves: 7, min_child_samples: 20 } },
      { name: 'more-regularisation', why: 'stronger L2 and feature subsampling', params: { reg_lambda: 5.0, colsample_bytree: 0.3 } },
      { name: 'larger-leaves', why: 'more leaves, to capture interactions', params: { num_leaves: 31, min_child_samples: 5 } },
    ],
  },
  {
    name: 'catboost',
    stage: 'family',
    family: 'catboost',
    requires: 'catboost',
    title: 'CatBoost',
    why: 'Ordered boosting with symmetric trees and native categorical features (target statistics computed in order, so no label leaks): robust defaults and often the best family on small data with many categories.',
    preprocess: 'native',
    params: { iterations: 1000, learning_rate: 0.05, depth: 6, l2_leaf_reg: 3.0, one_hot_max_size: 10 },
    model: {
      regression: 'CatBoostRegressor(**PARAMS, random_seed=SEED, thread_count=N_JOBS, cat_features=CAT_FEATURES, verbose=0, allow_writing_files=False)',
      classification: 'CatBoostClassifier(**PARAMS, random_seed=SEED, thread_count=N_JOBS, cat_features=CAT_FEATURES, verbose=0, allow_writing_files=False)',
    },
    imports: 'from catboost import CatBoostRegressor, CatBoostClassifier',
    moves: [
      { name: 'slower-learning', why: 'lower learning rate with more iterations', params: { learning_rate: 0.025, iterations: 2000 } },
      { name: 'shallower', why: 'shallower trees', params: { depth: 4 } },
    ],
  },
  {
    name: 'xgboost',
    stage: 'family',
    family: 'xgboost',
    requires: 'xgboost',
    title: 'XGBoost',
    why: 'Depth-wise gradient boosting with strong regularisation; often close to LightGBM and a useful second opinion.',
    preprocess: 'tree',
    params: { n_estimators: 600, learning_rate: 0.03, max_depth: 4, min_child_weight: 2, subsample: 0.8, colsample_bytree: 0.5, reg_lambda: 1.0 },
    model: {
      regression: 'XGBRegressor(**PARAMS, random_state=SEED, n_jobs=N_JOBS, tree_method="hist")',
      classification: 'XGBClassifier(**PARAMS, random_state=SEED, n_jobs=N_JOBS, tree_method="hist")',
    },
    imports: 'from xgboost import XGBRegressor, XGBClassifier',
    moves: [
      { name: 'slower-learning', why: 'halve the learning rate and double the trees', params: { learning_rate: 0.015, n_estimators: 1200 } },
      { name: 'shallower', why: 'shallower trees, against overfitting', params: { max_depth: 3 } },
      { name: 'deeper', why: 'deeper trees, to capture interactions', params: { max_depth: 6, min_child_weight: 4 } },
    ],
  },
  {
    name: 'hist-gradient-boosting',
    stage: 'family',
    family: 'hgb',
    title: 'HistGradientBoosting',
    why: "scikit-learn's histogram gradient boosting: handles missing values natively and needs no extra package.",
    preprocess: 'tree',
    params: { max_iter: 500, learning_rate: 0.05, max_leaf_nodes: 15, min_samples_leaf: 10, l2_regularization: 1.0 },
    model: {
      regression: 'HistGradientBoostingRegressor(**PARAMS, random_state=SEED)',
      classification: 'HistGradientBoostingClassifier(**PARAMS, random_state=SEED)',
    },
    moves: [
      { name: 'slower-learning', why: 'halve the learning rate and double the iterations', params: { learning_rate: 0.025, max_iter: 1000 } },
      { name: 'smaller-leaves', why: 'fewer leaves, against overfitting', params: { max_leaf_nodes: 7, min_samples_leaf: 20 } },
    ],
  },
  {
    name: 'random-forest',
    stage: 'family',
    family: 'random-forest',
    title: 'Random forest',
    why: 'Bagged deep trees: little tuning, a different bias from boosting.',
    preprocess: 'tree-imputed',
    params: trees(300) + { max_features: 0.5, min_samples_leaf: 1 },
    model: {
      regression: 'RandomForestRegressor(**PARAMS, random_state=SEED, n_jobs=N_JOBS)',
      classification: 'RandomForestClassifier(**PARAMS, random_state=SEED, n_jobs=N_JOBS)',
    },
    moves: [
      { name: 'fewer-features', why: 'fewer features per split, for more diverse trees', params: { max_features: 0.3 } },
    ],
  },
  {
    name: 'extra-trees',
    stage: 'family',
    family: 'extra-trees',
    title: 'Extra trees',
    why: 'Extremely randomised trees: even more variance reduction than a random forest, and fast.',
    preprocess: 'tree-imputed',
    params: trees(300) + { max_features: 0.5, min_samples_leaf: 1 },
    model: {
      regression: 'ExtraTreesRegressor(**PARAMS, random_state=SEED, n_jobs=N_JOBS)',
      classification: 'ExtraTreesClassifier(**PARAMS, random_state=SEED, n_jobs=N_JOBS)',
    },
    moves: [
      { name: 'larger-leaves', why: 'more samples per leaf, against overfitting', params: { min_samples_leaf: 3 } },
    ],
  },
]
