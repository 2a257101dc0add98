local tb = import 'trialbook.libsonnet';

tb.regression + tb.budget(time='90 minutes', trialTime='-10m', cellTime=300, cellsPerTrial=0) {
  data: '../data/small.csv',
  target: 'spend',
}
