local tb = import 'trialbook.libsonnet';

tb.regression {
  data: '../data/small.csv',
  target: 'spend',
  kernel: tb.kernel(sandbox='required', transport='tcp', memory=true),
}
