package main

import "time"

// devCertValidity is how long a development certificate lasts. Unlike
// keyhold-server's, it is kept only in memory, since the mailer writes
// nothing to disk: its fingerprint changes at each start.
const devCertValidity = 30 * 24 * time.Hour
