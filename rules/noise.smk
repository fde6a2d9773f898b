# Label-noise injection and dataset shaping: the view (examples + labels) each run trains on.


rule view:
    input:
        lambda wildcards: prepared_path(VIEWS[wildcards.view_id]["dataset"]),
    output:
        npz="results/{scale}/views/{view_id}.npz",
        summary="results/{scale}/views/{view_id}.json",
    conda:
        ENV
    log:
        "results/{scale}/logs/view/{view_id}.log",
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        spec=lambda wildcards: json.dumps(VIEWS[wildcards.view_id], sort_keys=True),
    shell:
        "python -m robustrepro view --spec {params.spec:q} --data {input} "
        "--out {output.npz} --summary {output.summary} > {log} 2>&1"
