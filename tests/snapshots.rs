//! Snapshots of every rendered file for each fixture.
