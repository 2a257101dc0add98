local tb = import 'trialbook.libsonnet';

tb.regression {
  data: '../data/nope.csv',
  target: 'spend',
}
