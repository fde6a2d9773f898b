# Offline clustering (seed 000): greedy set cover of radius balls around the vectors that
# features.smk extracts. A run whose config has a `clustering` gets the set cover as an input
# of its training job.


rule cluster:
    input:
        one_line_errors(lambda wildcards: f"results/{wildcards.scale}/vectors/{lookup_cluster(wildcards)['vectors']}.npy"),
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
        fineness=lambda wildcards: [
            arg for key, value in CLUSTERS[wildcards.cluster_id]["spec"].items() if key in ("radius", "share")
            for arg in (f"--{key}", str(value))
        ],
        device=config["device"],
    shell:
        "python -m robustrepro cluster --vectors {input:q} {params.fineness:q} --out {output.cover:q} "
        "--device {params.device:q} --threads {threads} > {log:q} 2>&1"
