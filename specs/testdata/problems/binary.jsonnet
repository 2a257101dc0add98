local tb = import 'trialbook.libsonnet';

// tb.classification leaves binary or multiclass to the data: churn has two classes.
tb.classification {
  data: '../data/small.parquet',
  target: 'churn',
  metric: tb.metrics.auc,
  validation: tb.stratifiedKfold(4),
  holdout: 0.25,
  features: tb.features(ids=['id']),
  featureResearch: true,
}
