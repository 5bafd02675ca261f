//! redislab on a three-master Redis Cluster: detection, whole-cluster inspect and reset, and
//! every lesson in `--auto` with foreign keys on every master untouched.

mod common;

use common::cluster::TestCluster;

#[test]
fn the_test_cluster_spreads_foreign_keys_over_every_master() {
    let cluster = TestCluster::start();
    cluster.seed_foreign_keys();
    let before = cluster.foreign_fingerprint();
    for node in cluster.nodes() {
        assert!(!node.all_keys().is_empty(), "{} holds no key", node.addr());
    }
    assert!(before.contains("foreign:hash"), "{before}");
    assert_eq!(cluster.foreign_fingerprint(), before);
}
