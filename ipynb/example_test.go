package ipynb_test

import (
	"encoding/json"
	"fmt"

	"trialbook/ipynb"
)

func Example() {
	nb, err := ipynb.Parse([]byte(`{"cells": [{"cell_type": "code", "execution_count": null, "id": "a1",
		"metadata": {}, "outputs": [], "source": "print(1)\n1.50"}],
		"metadata": {"ratio": 1e16}, "nbformat": 4, "nbformat_minor": 5}`))
	if err != nil {
		panic(err)
	}
	b := ipynb.NewOutputBuilder(nb, 0)
	b.StartCell(0)
	_, _ = b.Add("stream", json.RawMessage(`{"name": "stdout", "text": "1\n"}`))
	out, _ := nb.Marshal()
	fmt.Print(string(out))
	// Output:
	// {
	//  "cells": [
	//   {
	//    "cell_type": "code",
	//    "execution_count": null,
	//    "id": "a1",
	//    "metadata": {},
	//    "outputs": [
	//     {
	//      "name": "stdout",
	//      "output_type": "stream",
	//      "text": [
	//       "1\n"
	//      ]
	//     }
	//    ],
	//    "source": [
	//     "print(1)\n",
	//     "1.50"
	//    ]
	//   }
	//  ],
	//  "metadata": {
	//   "ratio": 1e+16
	//  },
	//  "nbformat": 4,
	//  "nbformat_minor": 5
	// }
}
