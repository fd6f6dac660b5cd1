//! Video: I420 frames, the test pattern, Y4M files.
