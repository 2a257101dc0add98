local tb = import 'trialbook.libsonnet';

tb.regression + tb.budget(time='1h30m', trialTime='10m', cellTime='2m', cellsPerTrial=25) {
  data: '../data/small.csv',
  target: 'spend',
  metric: 'mae',
  features: tb.features(ids=['id'], exclude=['churn', 'plan']),
  trials: 12,
  seed: 7,
  context: 'A row is a customer; spend is in EUR per month.',
}
