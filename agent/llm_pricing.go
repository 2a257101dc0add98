package agent

import "strings"

// Price is what a model costs in US dollars per million tokens.
type Price struct {
	InputPerMTok  float64 `json:"inputPerMTok"`
	OutputPerMTok float64 `json:"outputPerMTok"`
}

// Cost estimates what tokens cost at this price.
func (p Price) Cost(inputTokens, outputTokens int) float64 {
	return (float64(inputTokens)*p.InputPerMTok + float64(outputTokens)*p.OutputPerMTok) / 1e6
}

// listPrices are public list prices (USD per million tokens, standard tier,
// no caching) by model-name prefix; the longest matching prefix wins, so
// dated snapshots ("gpt-4o-2024-08-06") take their family's price. They are
// estimates: LLMConfig.Price overrides them, and models not listed (local
// ones under Ollama or vLLM) cost 0.
func listPrices() map[string]Price {
	return map[string]Price{
		"gpt-4o":        {2.50, 10},
		"gpt-4o-mini":   {0.15, 0.60},
		"gpt-4.1":       {2, 8},
		"gpt-4.1-mini":  {0.40, 1.60},
		"gpt-4.1-nano":  {0.10, 0.40},
		"gpt-5":         {1.25, 10},
		"gpt-5-mini":    {0.25, 2},
		"gpt-5-nano":    {0.05, 0.40},
		"o3":            {2, 8},
		"o3-mini":       {1.10, 4.40},
		"o4-mini":       {1.10, 4.40},
		"claude-opus-4": {15, 75},
		// Opus 4.5 and later are priced lower than Opus 4 and 4.1.
		"claude-opus-4-5":   {5, 25},
		"claude-sonnet-4":   {3, 15},
		"claude-3-7-sonnet": {3, 15},
		"claude-3-5-sonnet": {3, 15},
		"claude-haiku-4":    {1, 5},
		"claude-3-5-haiku":  {0.80, 4},
		"claude-3-haiku":    {0.25, 1.25},
	}
}

// priceOf returns the listed price of a model, or zero when it is not listed.
func priceOf(model string) Price {
	prices := listPrices()
	best := ""
	for prefix := range prices {
		if strings.HasPrefix(model, prefix) && len(prefix) > len(best) {
			best = prefix
		}
	}
	return prices[best]
}
