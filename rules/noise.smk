# Label-noise injection and dataset shaping: the view (examples + labels) each run trains on.


rule view:
    input:
        one_line_errors(lambda wildcards: prepared_path(PIPELINE.view(wildcards.scale, wildcards.view_id)["dataset"])),
    output:
        npz=paths.view("{scale}", "{view_id}"),
        summary=paths.view_summary("{scale}", "{view_id}"),
    conda:
        ENV
    log:
        paths.log("{scale}", "view", "{view_id}"),
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        spec=lambda wildcards: json.dumps(PIPELINE.view(wildcards.scale, wildcards.view_id), sort_keys=True),
    shell:
        "python -m robustrepro view --spec {params.spec:q} --data {input:q} "
        "--out {output.npz:q} --summary {output.summary:q} > {log:q} 2>&1"
