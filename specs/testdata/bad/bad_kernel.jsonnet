local tb = import 'trialbook.libsonnet';

tb.regression {
  data: '../data/small.csv',
  target: 'spend',
  kernel: tb.kernel(sandbox='yes', transport='websocket', memory='4 gigs', processes=-2),
}
