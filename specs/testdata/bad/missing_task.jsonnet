{
  data: '../data/small.csv',
  target: 'spend',
}
