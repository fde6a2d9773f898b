# Offline clustering (seed 000): greedy set cover of radius balls around the vectors that
# features.smk extracts. A run whose config has a `clustering` gets the set cover as an input
# of its training job.


rule cluster:
    input:
        lambda wildcards: f"results/{wildcards.scale}/vectors/{CLUSTERS[wildcards.cluster_id]['vectors']}.npy",
    output:
        cover="results/{scale}/clusters/{cluster_id}.npz",
        meta="results/{scale}/clusters/{cluster_id}.json",
    conda:
        ENV
    log:
        "results/{scale}/logs/cluster/{cluster_id}.log",
    threads: config["threads"]
    resources:
        gpu=gpus_per_job(),
        mem_mb=16000,
        runtime=60,
    params:
        fineness=lambda wildcards: " ".join(
            f"--{key} {value}" for key, value in CLUSTERS[wildcards.cluster_id]["spec"].items()
            if key in ("radius", "share")
        ),
        device=config["device"],
    shell:
        "python -m robustrepro cluster --vectors {input} {params.fineness} --out {output.cover} "
        "--device {params.device} --threads {threads} > {log} 2>&1"
