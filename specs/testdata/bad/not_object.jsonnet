['train.csv', 'SalePrice']
