// House Prices (Kaggle, Ames, Iowa): predict a home's sale price from 79
// features of the house. The dataset lives in shared/data beside the repo.
//
//   trialbook check examples/house-prices
//   trialbook agents-md examples/house-prices
local tb = import 'trialbook.libsonnet';

tb.regression {
  name: 'house-prices',
  data: '../../../shared/data/house-prices/train.csv',
  target: 'SalePrice',
  metric: 'rmse',
  validation: tb.kfold(5),
  holdout: 0.2,
  trials: 30,
  features: tb.features(ids=['Id']),
  featureResearch: true,
  explain: true,
  context: |||
    Prices are in USD. Id is a row number, not a feature. NA in columns such
    as PoolQC, Alley or FireplaceQu means the house has no such thing (no
    pool, no alley access), not that the value is unknown. The distribution
    of SalePrice is right-skewed.
  |||,
}
