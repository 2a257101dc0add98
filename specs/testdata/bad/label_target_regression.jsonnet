local tb = import 'trialbook.libsonnet';

tb.regression {
  data: '../data/small.csv',
  target: 'city',
}
