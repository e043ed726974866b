// Keeps recd_test_support non-empty.
