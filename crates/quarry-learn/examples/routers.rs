//! Train both learned routers on an index and search with every router through
//! `SearchParams`: fixed nprobe, SPANN's rule, GBDT (margin and target recall),
//! MLP (count and probability mass) and the GBDT count in MLP order.
//!
//! cargo run --release -p quarry-learn --example routers

use quarry_engine::{
    build_index, BuildConfig, GbdtRule, Index, Metric, NoProgress, OpenOptions, ProbeRule,
    RouterSpec, SearchParams,
};
use quarry_formats::{open_vectors, read_ground_truth, read_queries};
use quarry_learn::{mlp, pruning};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fx = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/siftsmall");
    let dir = PathBuf::from("example-routers.quarry");
    build_index(
        &fx.join("siftsmall_base.bvecs"),
        &dir,
        &BuildConfig::new(32, Metric::L2),
        &NoProgress,
    )?;
    let mut index = Index::open(&dir, OpenOptions::default())?;
    let base = open_vectors(&fx.join("siftsmall_base.bvecs"))?;
    let cfg = pruning::PruningConfig {
        label_k: 10,
        queries: 5000,
        max_nprobe: 32,
        ..Default::default()
    };
    pruning::train_pruning(
        &mut index,
        base.as_ref(),
        pruning::TrainQueries::FromBase,
        &cfg,
        &NoProgress,
    )?;
    let mlp_cfg = mlp::TrainConfig {
        epochs: 20,
        dup_every: 0,
        ..Default::default()
    };
    mlp::train_router(&mut index, base.as_ref(), 5000, &mlp_cfg, &NoProgress)?;

    let q = read_queries(&fx.join("siftsmall_query.fvecs"))?;
    let gt = read_ground_truth(&fx.join("siftsmall_groundtruth.ivecs"))?;
    let gbdt = RouterSpec::Gbdt {
        rule: GbdtRule::TargetRecall(0.9),
    };
    let routers = [
        RouterSpec::Fixed { nprobe: 4 },
        RouterSpec::Spann {
            eps: 0.2,
            max_nprobe: 8,
        },
        RouterSpec::Gbdt {
            rule: GbdtRule::Margin {
                margin: 0.0,
                max_nprobe: None,
            },
        },
        gbdt.clone(),
        RouterSpec::Mlp {
            rule: ProbeRule::Count(4),
        },
        RouterSpec::Mlp {
            rule: ProbeRule::Mass { mass: 0.9, max: 8 },
        },
        RouterSpec::Composed {
            count_from: Box::new(gbdt),
            order_from: Box::new(RouterSpec::Mlp {
                rule: ProbeRule::Count(1),
            }),
        },
    ];
    for spec in routers {
        let prepared = index.prepare(&SearchParams::new(10).router(spec))?;
        let r = prepared.search_batch(&q.data)?;
        let hits: usize = (0..q.n)
            .map(|i| {
                r.neighbors[i]
                    .iter()
                    .filter(|n| gt.row(i)[..10].contains(&(n.id as u32)))
                    .count()
            })
            .sum();
        println!(
            "{:<70} recall@10 {:.3}  partitions/query {:.2}",
            prepared.router().describe(),
            hits as f64 / (10 * q.n) as f64,
            r.per_query.iter().map(|s| s.partitions as f64).sum::<f64>() / q.n as f64
        );
    }
    Ok(())
}
