package main

import (
	"fmt"

	"trialbook/ipynb"
)

// modellingNotebook is a realistic 25-cell notebook on the house-prices
// training set: loading, exploring, plotting, feature engineering, and
// cross-validated models from scikit-learn and LightGBM.
func modellingNotebook(data string) *ipynb.Notebook {
	cells := []string{
		"import numpy as np\nimport pandas as pd\nimport matplotlib\nmatplotlib.use('agg')\n%matplotlib inline\nimport matplotlib.pyplot as plt\nfrom sklearn.model_selection import KFold, cross_val_predict\nfrom sklearn.linear_model import Ridge\nfrom sklearn.ensemble import RandomForestRegressor\nfrom sklearn.metrics import mean_squared_error\nimport lightgbm as lgb",
		fmt.Sprintf("df = pd.read_csv(%q)\ndf.shape", data),
		"df.head()",
		"df.describe().T.head(20)",
		"missing = df.isna().mean().sort_values(ascending=False)\nmissing.head(15)",
		"y = np.log1p(df['SalePrice'])\ny.describe()",
		"fig, ax = plt.subplots(figsize=(5, 3))\nax.hist(df['SalePrice'], bins=50)\nax.set_title('SalePrice');",
		"num = [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c]) and c not in ('Id', 'SalePrice')]\nlen(num)",
		"cat = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]\nlen(cat)",
		"corr = df[num + ['SalePrice']].corr()['SalePrice'].sort_values()\ncorr.tail(10)",
		"fig, ax = plt.subplots(figsize=(5, 3))\nax.scatter(df['GrLivArea'], df['SalePrice'], s=4)\nax.set_xlabel('GrLivArea');",
		"df['TotalSF'] = df['TotalBsmtSF'].fillna(0) + df['1stFlrSF'] + df['2ndFlrSF']\ndf['Age'] = df['YrSold'] - df['YearBuilt']\ndf['RemodAge'] = df['YrSold'] - df['YearRemodAdd']\nnum += ['TotalSF', 'Age', 'RemodAge']",
		"X_num = df[num].fillna(df[num].median())\nX_cat = pd.get_dummies(df[cat].fillna('None'), dtype=float)\nX = pd.concat([X_num, X_cat], axis=1)\nX.shape",
		"X.iloc[:5, :8]",
		"folds = KFold(n_splits=5, shuffle=True, random_state=0)\ndef rmse(p):\n    return float(np.sqrt(mean_squared_error(y, p)))",
		"oof_ridge = cross_val_predict(Ridge(alpha=10.0), (X - X.mean()) / (X.std() + 1e-9), y, cv=folds)\nrmse(oof_ridge)",
		"oof_ridge2 = cross_val_predict(Ridge(alpha=30.0), (X - X.mean()) / (X.std() + 1e-9), y, cv=folds)\nrmse(oof_ridge2)",
		"oof_rf = cross_val_predict(RandomForestRegressor(n_estimators=60, max_features=0.3, n_jobs=1, random_state=0), X, y, cv=folds)\nrmse(oof_rf)",
		"oof_lgb = cross_val_predict(lgb.LGBMRegressor(n_estimators=300, learning_rate=0.05, num_leaves=15, n_jobs=1, verbose=-1), X, y, cv=folds)\nrmse(oof_lgb)",
		"results = pd.DataFrame({'model': ['ridge10', 'ridge30', 'rf', 'lgbm'], 'rmse': [rmse(oof_ridge), rmse(oof_ridge2), rmse(oof_rf), rmse(oof_lgb)]}).sort_values('rmse')\nresults",
		"model = lgb.LGBMRegressor(n_estimators=300, learning_rate=0.05, num_leaves=15, n_jobs=1, verbose=-1).fit(X, y)\nimp = pd.Series(model.feature_importances_, index=X.columns).sort_values(ascending=False)\nimp.head(15)",
		"fig, ax = plt.subplots(figsize=(5, 4))\nimp.head(15)[::-1].plot.barh(ax=ax);",
		"blend = (oof_ridge + oof_lgb) / 2\nprint('blend rmse', rmse(blend))",
		"fig, ax = plt.subplots(figsize=(5, 3))\nax.scatter(y, blend - y, s=4)\nax.axhline(0, color='k');",
		"pd.DataFrame({'Id': df['Id'], 'oof': np.expm1(blend)}).to_csv('oof.csv', index=False)\nprint(open('oof.csv').read()[:60])",
	}
	nb := ipynb.New()
	nb.Metadata["kernelspec"] = map[string]any{"name": "python3", "display_name": "Python 3", "language": "python"}
	for _, c := range cells {
		nb.Cells = append(nb.Cells, ipynb.NewCodeCell(c))
	}
	return nb
}
