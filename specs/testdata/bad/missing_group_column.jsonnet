local tb = import 'trialbook.libsonnet';

tb.regression {
  data: '../data/small.csv',
  target: 'spend',
  validation: tb.groupKfold(5, 'store'),
  features: tb.features(ids=['id', 'spend']),
}
