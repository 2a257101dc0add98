local tb = import 'trialbook.libsonnet';

// lab stratifies a numeric target by its deciles, so this is allowed.
tb.regression {
  data: '../data/small.csv',
  target: 'spend',
  validation: tb.stratifiedKfold(4),
  agentsMd: { sections: { data: null, setup: null, handback: null, notebook: null, rules: null } },
}
