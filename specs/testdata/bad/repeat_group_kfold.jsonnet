local tb = import 'trialbook.libsonnet';

tb.regression {
  data: '../data/small.csv',
  target: 'spend',
  validation: tb.groupKfold(5, 'city') + { repeat: 3 },
  features: tb.features(ids=['id']),
}
