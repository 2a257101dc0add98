local tb = import 'trialbook.libsonnet';

tb.regression {
  data: '../data/signed.csv',
  target: 'delta',
  metric: 'rmsle',
}
