local tb = import 'trialbook.libsonnet';

tb.regression {
  name: 'templated',
  data: '../data/small.csv',
  target: 'spend',
  agentsMd: { template: importstr 'team.md.tmpl' },
}
