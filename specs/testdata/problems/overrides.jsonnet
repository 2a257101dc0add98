local tb = import 'trialbook.libsonnet';

tb.regression {
  data: '../data/small.csv',
  target: 'spend',
  features: tb.features(ids=['id']),
  agentsMd: {
    title: 'Customer spend',
    preamble: 'Short instructions for the spend model.',
    sections: {
      objective: tb.section(title='Goal'),
      data: null,  // drop the profile
      rules: tb.section(append='- Never use `churn`: it is only known after the month ends.'),
      glossary: tb.section(title='Glossary', body='- **spend**: EUR per month.', after='objective'),
      budget: tb.section(prepend='Trials are cheap here.'),
    },
    order: ['rules'],
  },
}
