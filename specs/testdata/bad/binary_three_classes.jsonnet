local tb = import 'trialbook.libsonnet';

tb.binary {
  data: '../data/small.csv',
  target: 'plan',
}
