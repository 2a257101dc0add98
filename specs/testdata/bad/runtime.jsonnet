local tb = import 'trialbook.libsonnet';

tb.regression {
  data: '../data/small.csv',
  target: 'spend',
  validation: tb.kfold(5) + tb.nosuch,
}
