# Reported vs reproduced numbers with the claims checked, and an index of every target.


rule comparison:
    input:
        paper_groups,
    output:
        tex="results/{scale}/{paper}/comparison.tex",
        csv=report(
            "results/{scale}/{paper}/comparison.csv",
            caption="../workflow/report/comparison.rst",
            category="{paper}",
            subcategory="{scale} scale",
            labels={"target": "comparison", "kind": "table"},
        ),
        claims=report(
            "results/{scale}/{paper}/claims.csv",
            caption="../workflow/report/claims.rst",
            category="{paper}",
            subcategory="{scale} scale",
            labels={"target": "claims", "kind": "table"},
        ),
        claims_tex="results/{scale}/{paper}/claims.tex",
    log:
        "results/{scale}/logs/targets/{paper}-comparison.log",
    localrule: True
    conda:
        ENV
    shell:
        "python -m robustrepro compare --paper {wildcards.paper} --scale {wildcards.scale} "
        "--results-dir results/{wildcards.scale}/{wildcards.paper} > {log} 2>&1"


rule index:
    input:
        lambda wildcards: [f for paper in PAPERS.values() for f in paper_outputs(wildcards.scale, paper)],
    output:
        "results/{scale}/index.md",
    log:
        "results/{scale}/logs/index.log",
    localrule: True
    conda:
        ENV
    shell:
        "python -m robustrepro index --scale {wildcards.scale} --out {output} > {log} 2>&1"
