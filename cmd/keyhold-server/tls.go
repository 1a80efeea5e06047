package main

import "time"

// devCertValidity is how long a development certificate lasts; it is kept
// in the data directory, and a new one (with a new fingerprint) is made
// when less than a week is left.
const devCertValidity = 365 * 24 * time.Hour
