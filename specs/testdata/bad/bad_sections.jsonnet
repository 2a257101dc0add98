local tb = import 'trialbook.libsonnet';

tb.regression {
  data: '../data/small.csv',
  target: 'spend',
  agentsMd: {
    sections: {
      glosary: tb.section(body='- spend: EUR'),
      rules: tb.section(after='budjet'),
    },
    order: ['objective', 'dat'],
  },
}
