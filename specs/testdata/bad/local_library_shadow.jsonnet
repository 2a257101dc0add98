// testdata/lib holds a trialbook.libsonnet that errors when imported, beside
// the team library that imports 'trialbook.libsonnet'. The embedded library
// is served first, so this problem is only wrong about its metric.
local tb = import 'trialbook.libsonnet';
local team = import '../lib/team.libsonnet';

tb.regression {
  data: '../data/small.csv',
  target: 'spend',
  metric: 'f1',
  context: 'team task: ' + team.churnModel.task,
}
